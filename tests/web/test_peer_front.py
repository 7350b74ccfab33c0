"""The benchmark's front end for the peers (Huey, Celery, procrastinate) checks bodies as
our service does and hands each peer ``(action, data)`` pairs: a change to
``web.validation`` must not turn every peer POST into a 500 (it did once)."""

from __future__ import annotations

import pytest

from bench.stacks.web_app import submitted
from models import InvalidInput


def test_one_task_and_a_batch_become_action_data_pairs():
    assert submitted({"action": "echo", "data": {"n": 1}}) == [("echo", {"n": 1})]
    assert submitted([{"action": "a"}, {"action": "b", "data": {"x": [1]}}]) == [
        ("a", {}),
        ("b", {"x": [1]}),
    ]


def test_a_bad_task_is_refused_naming_it():
    with pytest.raises(InvalidInput, match="task 1"):
        submitted([{"action": "a"}, {"data": {}}])
