"""The state machine: every store operation moves tasks only along ``TRANSITIONS``, and the
database itself refuses a status that is not one."""

from __future__ import annotations

import random

import pytest
from peewee import IntegrityError

import models
from models import Failure, Status

NOW = 1_700_000_000.0
LEASE = 30.0
MAX_ATTEMPTS = 3


def statuses(store, ids: list[str]) -> dict[str, Status]:
    return {task_id: Status(store.get_task(task_id)["status"]) for task_id in ids}


def test_random_operations_only_make_allowed_transitions(store):
    # Given a few tasks and a random mix of every operation, with a clock that moves on
    rng = random.Random(20261130)
    rows = [models.new_task("x", {"n": n}, now_ns=int((NOW - 60) * 1e9)) for n in range(6)]
    store.enqueue(rows)
    ids = [row["id"] for row in rows]
    held: list[models.ClaimedTask] = []
    now = NOW
    seen: set[tuple[str, Status, Status]] = set()
    operations = ["claim"] * 3 + ["fail"] * 2 + ["rescue"] * 2 + ["complete", "release", "new"]
    for _ in range(400):
        now += rng.choice((0.0, 0.5, 5.0, LEASE + 1))
        before = statuses(store, ids)
        operation = rng.choice(operations)
        if operation == "new":
            row = models.new_task("x", {}, now_ns=int((NOW - 60) * 1e9))
            store.enqueue([row])
            ids.append(row["id"])
            continue
        if operation == "claim":
            held += store.claim(f"h:{rng.randint(1, 2)}", "n", rng.randint(1, 3), now, LEASE)
        elif operation == "rescue":
            store.rescue(now, MAX_ATTEMPTS)
        elif held:
            # Sometimes a stale claim: the fence must then leave the task alone
            task = held.pop(rng.randrange(len(held)))
            if operation == "complete":
                store.complete_many([(task, "{}")], now)
            elif operation == "fail":
                store.fail(task, Failure("E: x"), now, MAX_ATTEMPTS, 0.1, rng)
            else:
                store.release([task])
        after = statuses(store, ids)
        # Then every change is one the state machine allows for that operation
        for task_id in ids:
            assert models.statuses.allowed(operation, before[task_id], after[task_id]), (
                operation,
                before[task_id],
                after[task_id],
            )
            if before[task_id] != after[task_id]:
                seen.add((operation, before[task_id], after[task_id]))
    # And the walk went through every transition of the table
    expected = {(op, a, b) for op, pairs in models.TRANSITIONS.items() for a, b in pairs}
    assert seen == expected


def test_the_database_refuses_an_unknown_status_and_defaults_to_queued(store):
    [row] = [models.new_task("x", {})]
    store.enqueue([row])
    p = store.db.param
    with pytest.raises(IntegrityError):
        with store.write_transaction():
            store.db.execute_sql(
                f"UPDATE tasks SET status = 'pending' WHERE id = {p}", (row["id"],)
            )
    assert store.get_task(row["id"])["status"] == "queued"
    # A row written without a status is queued, a real status (the reference's 'pending' was not)
    with store.write_transaction():
        store.db.execute_sql(
            f"INSERT INTO tasks (id, payload, created_at, action, enqueued_ns, run_at) "
            f"VALUES ({p}, '{{}}', 0, 'x', 0, 0)",
            ("no-status",),
        )
    assert store.get_task("no-status")["status"] == "queued"


def test_final_statuses_have_no_way_out():
    for pairs in models.TRANSITIONS.values():
        for before, _ in pairs:
            assert before not in models.FINISHED
    assert set(models.CLAIMABLE) == {
        before for before, after in models.TRANSITIONS["claim"] if after == Status.RUNNING
    }
