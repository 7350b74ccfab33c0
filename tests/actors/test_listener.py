"""The wake-up listener: a commit by any process wakes the dispatcher; stopping is immediate."""

from __future__ import annotations

import time

import pytest

import models
from actors import Wake, WakeListener
from actors.listener import LISTEN_TIMEOUT_SECONDS
from tests.web.client import wait_for

from .helpers import WAIT_SECONDS, Latch, ProbeWorker

pytestmark = pytest.mark.postgresql


def start_listener(store) -> tuple[WakeListener, Latch]:
    wakes = Latch()
    probe = ProbeWorker.start([], wakes)  # stands in for the dispatcher
    listener = WakeListener(store.open_listener(), probe)
    listener.start()
    assert listener.listening.wait(WAIT_SECONDS)
    wakes.wait(1)  # the wake it sends as soon as it listens
    return listener, wakes


def test_a_commit_anywhere_wakes_the_dispatcher(pg_url):
    store = models.open_store(pg_url)
    store.migrate()
    listener, wakes = start_listener(store)
    try:
        # When another connection commits a task
        store.enqueue([models.new_task("x", {})])
        # Then the dispatcher is told to wake
        wakes.wait(2)
        assert all(isinstance(message, Wake) for message in wakes.items)
    finally:
        listener.stop()
        store.close()


def test_it_reconnects_when_its_connection_is_killed(pg_url):
    store = models.open_store(pg_url)
    store.migrate()
    listener, wakes = start_listener(store)
    try:
        # When the server drops the listening connection
        killed = store.db.execute_sql(
            "SELECT pg_terminate_backend(%s)", (listener.backend_pid,)
        ).fetchall()
        assert killed == [(True,)]
        # Then it listens again (waking once more, for what it may have missed)
        wakes.wait(2)
        # And new commits still wake the dispatcher
        store.enqueue([models.new_task("y", {})])
        wakes.wait(3)
    finally:
        listener.stop()
        store.close()


def test_stopping_returns_at_once_and_closes_its_connection(pg_url):
    # Given a listener waiting, with nothing to hear
    store = models.open_store(pg_url)
    store.migrate()
    listener, _ = start_listener(store)
    backend = listener.backend_pid
    # When it is stopped
    started = time.monotonic()
    listener.stop()
    stopped_in = time.monotonic() - started
    # Then it did not wait out its timeout, and its connection is gone from the server
    assert stopped_in < LISTEN_TIMEOUT_SECONDS / 2, stopped_in
    # (the server ends a backend just after its client closes)
    wait_for(
        lambda: backend_count(store, backend) == 0,
        WAIT_SECONDS,
        lambda: f"its backend {backend} to end; still listed: {backend_count(store, backend)}",
    )
    store.close()


def backend_count(store, pid: int) -> int:
    sql = "SELECT count(*) FROM pg_stat_activity WHERE pid = %s"
    return store.db.execute_sql(sql, (pid,)).fetchone()[0]
