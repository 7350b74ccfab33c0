"""The connection budget within the process's file descriptor limit (web/server.py)."""

from __future__ import annotations

import resource

import pytest

from web import server


@pytest.fixture
def limits(monkeypatch):
    """Fake RLIMIT_NOFILE: ``state["soft"]``, ``state["hard"]``; setrlimit may be refused."""
    state = {"soft": 1024, "hard": 1024, "refuse": False}

    def getrlimit(which):
        assert which == resource.RLIMIT_NOFILE
        return state["soft"], state["hard"]

    def setrlimit(which, values):
        if state["refuse"] or values[0] > state["hard"]:
            raise ValueError("not allowed")
        state["soft"] = values[0]

    monkeypatch.setattr(server.resource, "getrlimit", getrlimit)
    monkeypatch.setattr(server.resource, "setrlimit", setrlimit)
    return state


def test_a_low_soft_limit_is_raised_to_what_the_budget_needs(limits):
    limits.update(soft=1024, hard=1_000_000)
    assert server.connection_budget() == server.MAX_CONNECTIONS
    assert limits["soft"] == server.MAX_CONNECTIONS + server.RESERVED_DESCRIPTORS


def test_the_budget_stays_within_a_hard_limit(limits):
    limits.update(soft=1024, hard=1024)
    assert server.connection_budget() == 1024 - server.RESERVED_DESCRIPTORS


def test_a_refused_raise_keeps_the_budget_within_the_soft_limit(limits):
    limits.update(soft=512, hard=8192, refuse=True)
    assert server.connection_budget() == 512 - server.RESERVED_DESCRIPTORS
