"""The storage contract for control: delay, priority, queues and pauses, cancel and retry,
per-task attempts, progress, counts. Run on every backend."""

from __future__ import annotations

import orjson
import pytest

import models
from models import Failure, Status, TaskFilter, TaskOptions

NOW = 1_700_000_000.0
LEASE = 30.0
OWNER = "h:1"


def add(store, count: int = 1, at: float = NOW - 60, **options) -> list[str]:
    options.setdefault("max_attempts", 3)
    rows = [
        models.new_task("x", {"n": n}, TaskOptions(**options), now_ns=int(at * 1e9))
        for n in range(count)
    ]
    store.enqueue(rows)
    return [row["id"] for row in rows]


def status(store, task_id: str) -> str:
    return store.get_task(task_id)["status"]


def events_of_kind(store, task_id: str, kind: str) -> list[dict]:
    return [event for event in store.events_of(task_id) if event["kind"] == kind]


def claim(store, limit: int = 10, now: float = NOW, queues=None) -> list[str]:
    return [task.id for task in store.claim(OWNER, "n", limit, now, LEASE, queues)]


def test_a_delayed_task_is_scheduled_and_staged_when_due(store):
    # Given a task due in 30 s and one due now
    [later] = add(store, run_at=NOW + 30, at=NOW)
    [now] = add(store, at=NOW)
    assert (status(store, later), status(store, now)) == ("scheduled", "queued")
    assert store.get_task(later)["run_at"] == NOW + 30
    # Then only the due one can be claimed, however late the claim says it is
    assert claim(store, now=NOW + 3600) == [now]
    # When the stager runs before it is due, nothing moves; after, it is queued and claimable
    assert store.stage(NOW + 29) == 0
    assert store.next_scheduled_at() == NOW + 30
    assert store.stage(NOW + 30) == 1
    assert status(store, later) == "queued"
    assert claim(store, now=NOW + 30) == [later]
    assert store.next_scheduled_at() is None


def test_lower_priority_numbers_start_first_then_due_order(store):
    low = add(store, 2, priority=5)
    high = add(store, 2, priority=1)
    urgent = add(store, 1, priority=0, at=NOW - 10)  # due later than the others
    assert claim(store, limit=5) == urgent + high + low


def test_claims_take_only_the_queues_asked_and_never_a_paused_one(store):
    [emails] = add(store, queue="emails")
    [reports] = add(store, queue="reports", priority=9)
    [default] = add(store)
    # A node that serves emails only
    assert claim(store, queues=["emails"]) == [emails]
    # Pausing reports: a node serving everything takes only the rest
    store.pause("reports", "test", NOW)
    assert store.active_queues() == ["default", "emails"]
    assert claim(store) == [default]
    # The paused queue still takes tasks, and gives them out once resumed
    [more] = add(store, queue="reports")
    assert claim(store) == []
    store.resume("reports", "test", NOW)
    assert claim(store) == [more, reports]  # by priority: more has 0, reports 9


def test_pause_is_stored_with_who_and_when_and_a_second_pause_keeps_the_first(store):
    store.pause("emails", "alice", NOW)
    store.pause("emails", "bob", NOW + 5)
    state = store.queue_state("emails")
    assert (state.paused, state.paused_at, state.paused_by) == (True, NOW, "alice")
    assert store.resume("emails", "carol", NOW + 10).paused is False
    with pytest.raises(models.TaskNotFound):
        store.resume("never-seen", "x", NOW)


def test_cancel_waiting_tasks_at_once_and_running_ones_when_they_end(store):
    [scheduled] = add(store, run_at=NOW + 60, at=NOW)
    [running, completes, fails, queued] = add(store, 4)
    held = {task.id: task for task in store.claim(OWNER, "n", 3, NOW, LEASE)}
    assert queued not in held
    # Waiting tasks are canceled at once
    assert store.cancel(scheduled, "test", NOW) == Status.CANCELED
    assert store.cancel(queued, "test", NOW) == Status.CANCELED
    assert (status(store, scheduled), status(store, queued)) == ("canceled", "canceled")
    # A running one is only marked; the node running it hears of it
    for task_id in (running, completes, fails):
        assert store.cancel(task_id, "test", NOW) == Status.RUNNING
    assert store.get_task(running)["cancel_requested"] is True
    assert sorted(store.cancel_requests(OWNER)) == sorted([running, completes, fails])
    # When its attempt ends: completed stays completed, anything else is canceled
    store.complete_many([(held[completes], "{}")], NOW + 1)
    store.fail(held[fails], Failure("E: x"), NOW + 1, 3, 0)
    store.release([held[running]], NOW + 1)
    assert status(store, completes) == "completed"
    assert status(store, fails) == "canceled"
    assert status(store, running) == "canceled"
    # A finished task is a conflict naming its status
    with pytest.raises(models.Conflict, match="^task is completed$"):
        store.cancel(completes, "test", NOW)
    with pytest.raises(models.TaskNotFound):
        store.cancel("no-such-task", "test", NOW)
    # Each cancel is in the task's record: who, when, from which status
    assert events_of_kind(store, scheduled, "canceled") == [
        {"at": NOW, "kind": "canceled", "by": "test", "from": "scheduled"}
    ]
    assert events_of_kind(store, running, "cancel_requested") == [
        {"at": NOW, "kind": "cancel_requested", "by": "test", "from": "running"}
    ]


def test_a_rescued_task_whose_cancel_was_asked_is_canceled(store):
    [task_id] = add(store)
    claim(store)
    store.cancel(task_id, "test", NOW)
    assert store.rescue(NOW + LEASE + 1, 5) == [models.Rescued(task_id, Status.CANCELED)]


def test_retry_by_hand_gives_a_fresh_budget_and_keeps_counting_attempts(store):
    [task_id] = add(store, max_attempts=2)
    now = NOW
    for _ in range(2):
        [task] = store.claim(OWNER, "n", 1, now, LEASE)
        store.fail(task, Failure("E: no"), now, 5, 0)
        now += 1
    task = store.get_task(task_id)
    assert (task["status"], task["attempts"], task["max_attempts"]) == ("dead", 2, 2)
    # When it is retried by hand
    answered = store.retry(task_id, "ops", now, 5)
    # Then it is due now with two more attempts; its attempts keep counting
    task = store.get_task(task_id)
    assert answered == task
    assert (task["status"], task["attempts"], task["max_attempts"]) == ("queued", 2, 4)
    assert task["run_at"] == now
    [again] = store.claim(OWNER, "n", 1, now, LEASE)
    assert again.attempts == 3
    assert events_of_kind(store, task_id, "retried_by_hand") == [
        {"at": now, "kind": "retried_by_hand", "by": "ops", "from": "dead"}
    ]
    # A task that is not finished cannot be retried
    with pytest.raises(models.Conflict, match="^task is running$"):
        store.retry(task_id, "ops", now, 5)


def test_a_permanent_failure_is_dead_at_once_and_a_task_has_its_own_attempts(store):
    [permanent, own] = add(store, 2, max_attempts=10)
    held = {task.id: task for task in store.claim(OWNER, "n", 2, NOW, LEASE)}
    assert store.fail(held[permanent], Failure("Permanent: bad input"), NOW, 10, 0, None, True) == (
        Status.DEAD
    )
    # The task's own max_attempts (10) wins over the node's default (1)
    assert store.fail(held[own], Failure("E: x"), NOW, 1, 0) == Status.RETRYING


def test_bulk_cancel_and_retry_by_ids_and_by_filter(store):
    emails = add(store, 3, queue="emails")
    other = add(store, 2)
    # By ids: unknown ids are not matched; finished ones are matched but not changed
    result = store.cancel_many([emails[0], "no-such-task"], "ops", NOW)
    assert (result.matched, result.changed) == (1, 1)
    assert store.cancel_many([emails[0]], "ops", NOW) == models.BulkResult(1, 0)
    # By filter: every queued task of the queue
    result = store.cancel_matching(TaskFilter(status=Status.QUEUED, queue="emails"), "ops", NOW)
    assert (result.matched, result.changed) == (2, 2)
    assert [status(store, i) for i in other] == ["queued", "queued"]
    # Retry by filter: every canceled task of the queue
    result = store.retry_matching(TaskFilter(queue="emails"), "ops", NOW, 3)
    assert (result.matched, result.changed) == (3, 3)
    assert {status(store, i) for i in emails} == {"queued"}
    # A filter on a status the operation cannot apply to is refused
    with pytest.raises(models.InvalidInput, match="filter.status"):
        store.cancel_matching(TaskFilter(status=Status.COMPLETED), "ops", NOW)


def test_bulk_by_filter_works_in_batches_past_the_batch_size(store, monkeypatch):
    from models import control

    monkeypatch.setattr(control, "BULK_BATCH_ROWS", 7)
    ids = add(store, 30, queue="big")
    add(store, 5)
    result = store.cancel_matching(TaskFilter(queue="big"), "ops", NOW)
    assert (result.matched, result.changed) == (30, 30)
    assert {status(store, i) for i in ids} == {"canceled"}
    assert store.count_by_status()[Status.QUEUED] == 5


def test_counts_by_queue_include_finished_tasks_without_scanning_them(store):
    add(store, 2, queue="a")
    [done, dead] = add(store, 2, queue="b", max_attempts=1)
    held = {task.id: task for task in store.claim(OWNER, "n", 10, NOW, LEASE, ["b"])}
    store.complete_many([(held[done], "{}")], NOW)
    store.fail(held[dead], Failure("E: x"), NOW, 1, 0)
    counts = store.counts_by_queue()
    assert counts["a"][Status.QUEUED] == 2
    assert (counts["b"][Status.COMPLETED], counts["b"][Status.DEAD]) == (1, 1)
    # A retry by hand takes it out of the finished counts again
    store.retry(dead, "ops", NOW, 3)
    assert store.counts_by_queue()["b"][Status.DEAD] == 0
    assert store.counts_by_queue()["b"][Status.QUEUED] == 1


def test_oldest_due_age_per_queue(store):
    add(store, 1, queue="q", at=NOW - 50)
    add(store, 1, queue="q", at=NOW - 10, priority=3)
    add(store, 1, queue="q", run_at=NOW + 100, at=NOW)  # scheduled: not due
    assert store.oldest_due_age("q", NOW) == pytest.approx(50)
    assert store.oldest_due_age("empty", NOW) is None


def test_progress_is_stored_for_the_current_claim_only(store):
    [task_id] = add(store)
    [task] = store.claim(OWNER, "n", 1, NOW, LEASE)
    assert store.set_progress(task, 0.5, "half way", NOW + 1) is True
    assert orjson.loads(store.get_task(task_id)["progress"]) == {
        "fraction": 0.5,
        "message": "half way",
        "at": NOW + 1,
    }
    store.complete_many([(task, "{}")], NOW + 2)
    assert store.set_progress(task, 1.0, "late", NOW + 3) is False


def test_options_show_in_the_task(store):
    [task_id] = add(store, queue="emails", priority=7, max_attempts=9, timeout_seconds=12.5)
    task = store.get_task(task_id)
    assert (task["queue"], task["priority"], task["max_attempts"], task["timeout"]) == (
        "emails",
        7,
        9,
        12.5,
    )
    assert task["cancel_requested"] is False and task["progress"] is None
