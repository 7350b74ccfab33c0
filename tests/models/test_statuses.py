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
    every = {task["id"]: Status(task["status"]) for task in store.list_tasks(limit=1000)}
    return {task_id: every[task_id] for task_id in ids}


def test_random_operations_only_make_allowed_transitions(store):
    # Given a few tasks, some of them delayed, and a random mix of every operation,
    # with a clock that moves on
    rng = random.Random(20261130)
    ids: list[str] = []
    held: list[models.ClaimedTask] = []
    now = NOW
    seen: set[tuple[str, Status, Status]] = set()

    def new_task() -> None:
        delay = rng.choice((None, None, 5.0))
        options = models.TaskOptions(
            max_attempts=MAX_ATTEMPTS, run_at=now + delay if delay else None
        )
        row = models.new_task("x", {}, options, now_ns=int(now * 1e9))
        store.enqueue([row])
        ids.append(row["id"])

    for _ in range(6):
        new_task()
    operations = (
        ["claim"] * 3
        + ["fail"] * 2
        + ["rescue"] * 2
        + ["complete", "release", "new", "stage", "cancel", "cancel", "retry"]
    )
    for _ in range(800):
        now += rng.choice((0.0, 0.5, 5.0, LEASE + 1))
        operation = rng.choice(operations)
        if operation == "new":
            new_task()
            continue
        before = statuses(store, ids)
        if operation == "claim":
            held += store.claim(f"h:{rng.randint(1, 2)}", "n", rng.randint(1, 3), now, LEASE)
        elif operation == "rescue":
            store.rescue(now, MAX_ATTEMPTS)
        elif operation == "stage":
            store.stage(now)
        elif operation in ("cancel", "retry"):
            # Mostly a task the operation applies to; sometimes one it refuses
            applies = models.FINISHED if operation == "retry" else models.WAITING + ("running",)
            candidates = [i for i in ids if before[i] in applies] or ids
            task_id = rng.choice(candidates if rng.random() < 0.8 else ids)
            try:
                if operation == "cancel":
                    store.cancel(task_id, "test", now)
                else:
                    store.retry(task_id, "test", now, MAX_ATTEMPTS)
            except models.Conflict:
                pass
        elif held:
            # Sometimes a stale claim: the fence must then leave the task alone
            task = held.pop(rng.randrange(len(held)))
            if operation == "complete":
                store.complete_many([(task, "{}")], now)
            elif operation == "fail":
                permanent = rng.random() < 0.2
                store.fail(task, Failure("E: x"), now, MAX_ATTEMPTS, 0.1, rng, permanent)
            else:
                store.release([task], now)
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
    assert seen == expected, expected - seen


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


def test_final_statuses_have_no_way_out_but_a_retry_by_hand():
    for operation, pairs in models.TRANSITIONS.items():
        for before, _ in pairs:
            assert before not in models.FINISHED or operation == "retry", (operation, before)
    assert set(models.CLAIMABLE) == {
        before for before, after in models.TRANSITIONS["claim"] if after == Status.RUNNING
    }
