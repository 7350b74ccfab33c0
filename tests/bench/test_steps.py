"""The benchmark's split of an end-to-end latency into steps, read from a task's own
history in a real database (SQLite file or PostgreSQL), as ``python -m bench`` reads it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import models
from bench import steps
from models import Ending, Outcome
from models.ids import created_at_of

LEASE = 30.0


def _where(db_url: str):
    """What the benchmark's reader takes: a SQLite file's path, or a PostgreSQL URL."""
    return Path(db_url.removeprefix("sqlite:///")) if db_url.startswith("sqlite") else db_url


def test_each_step_is_the_time_between_two_moments_of_the_task(store, db_url):
    # Given: a task accepted, claimed 2 ms after its id was made, started 5 ms after,
    # completed 1 ms later, seen committed 3 ms after that; its POST was due 4 ms before
    made_ns = int(time.time() * 1e9)
    row = models.new_task("job", {}, now_ns=made_ns)
    store.enqueue([row])
    made = created_at_of(row["id"])
    [task] = store.claim("h:1", "node-a", 1, made + 0.002, LEASE)
    store.settle(
        [
            Outcome(
                task,
                Ending.COMPLETED,
                result_json="{}",
                started_at=made + 0.007,
                finished_at=made + 0.008,
            )
        ],
        made + 0.009,
    )
    monotonic_minus_wall = time.monotonic() - time.time()
    due = {row["id"]: made - 0.004 + monotonic_minus_wall}
    seen = {row["id"]: made + 0.011 + monotonic_minus_wall}

    # When: the benchmark splits its latency
    split = steps.split(_where(db_url), due, seen, "e2e")

    # Then: each step is what happened, to well under a millisecond
    expected = {"accept": 4.0, "claim": 2.0, "start": 5.0, "run": 1.0, "settle": 3.0}
    for step, ms in expected.items():
        for pct in ("p50", "p99"):
            assert split[f"e2e_step_{step}_{pct}_ms"] == pytest.approx(ms, abs=0.2), step


def test_tasks_without_their_history_are_left_out(store, db_url):
    # Given: a task seen completed that has no claim, start or completion recorded
    row = models.new_task("job", {})
    store.enqueue([row])
    now = time.monotonic()

    # When: its latency is split
    split = steps.split(_where(db_url), {row["id"]: now - 0.01}, {row["id"]: now}, "e2e")

    # Then: no step is made up for it
    assert set(split) == {f"e2e_step_{s}_{p}_ms" for s in steps.STEPS for p in ("p50", "p99")}
    assert all(value != value for value in split.values())  # NaN: nothing measured
