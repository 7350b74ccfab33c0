"""Retention in the store, on both backends: only finished tasks past their time go, with
their history, their counts and their delivery logs; never a task with a pending webhook."""

from __future__ import annotations

import pytest

import models

NOW = 1_800_000_000.0
DAY = 86_400.0
URL = "https://example.com/hook"


def finished(store, status: models.Status, at: float, notify: bool = False, key=None) -> str:
    """A task taken to ``status`` at ``at`` through the store's own transitions."""
    options = models.TaskOptions(
        max_attempts=1,
        notify_url=URL if notify else None,
        idempotency_key=key,
        request_hash="h" if key else None,
    )
    row = models.new_task("x", {}, options, now_ns=int((at - 10) * 1e9))
    store.enqueue([row])
    if status == models.Status.CANCELED:
        store.cancel(row["id"], "test", at)
        return row["id"]
    [claimed] = store.claim("owner", "node", 1, at - 5, 30)
    if status == models.Status.COMPLETED:
        store.complete_many([(claimed, "{}")], at)
    else:
        store.fail(claimed, models.Failure("E: x"), at, 1, 1.0)
    assert store.get_task(row["id"])["status"] == status
    return row["id"]


def finished_count(store, status: models.Status) -> int:
    return store.count_by_status()[status]


def events(store, task_id: str) -> int:
    p = store.db.param
    cursor = store.db.execute_sql(
        f"SELECT COUNT(*) FROM task_events WHERE task_id = {p}", (task_id,)
    )
    return cursor.fetchone()[0]


@pytest.mark.parametrize("status", models.FINISHED)
def test_only_tasks_finished_before_the_cutoff_go_with_their_events_and_counts(store, status):
    old = [finished(store, status, NOW - 8 * DAY) for _ in range(3)]
    recent = finished(store, status, NOW - 6 * DAY)
    assert events(store, old[0]) >= 1
    assert finished_count(store, status) == 4
    # When the tasks finished before NOW - 7 days are pruned, in batches of two
    assert store.prune_batch(status, NOW - 7 * DAY, 2) == 2
    assert store.prune_batch(status, NOW - 7 * DAY, 2) == 1
    assert store.prune_batch(status, NOW - 7 * DAY, 2) == 0
    # Then they are gone (GET /tasks/{id} is a 404), with their events, and uncounted
    for task_id in old:
        with pytest.raises(models.TaskNotFound):
            store.get_task(task_id)
        with pytest.raises(models.TaskNotFound):
            store.events_of(task_id)
        assert events(store, task_id) == 0
    assert store.get_task(recent)["status"] == status
    assert finished_count(store, status) == 1


def test_tasks_that_are_not_finished_are_never_pruned(store):
    rows = [models.new_task("x", {}, now_ns=int((NOW - 30 * DAY) * 1e9)) for _ in range(4)]
    store.enqueue(rows)
    store.claim("owner", "node", 1, NOW - 30 * DAY, 30)  # one running, three queued
    [retrying] = store.claim("owner", "node", 1, NOW - 30 * DAY, 30)
    store.fail(retrying, models.Failure("E: x"), NOW - 30 * DAY, 5, 1.0)
    for status in models.FINISHED:
        with pytest.raises(ValueError):
            store.prune_batch(models.Status.QUEUED, NOW, 100)
        assert store.prune_batch(status, NOW + DAY, 100) == 0
    assert sum(store.count_by_status().values()) == 4


def test_a_task_whose_webhook_is_pending_is_kept_until_it_is_delivered(store):
    kept = finished(store, models.Status.COMPLETED, NOW - 8 * DAY, notify=True)
    assert store.prune_batch(models.Status.COMPLETED, NOW - 7 * DAY, 100) == 0
    [delivery] = store.claim_deliveries(10, NOW)
    outcome = models.TryOutcome(delivery, NOW, 200, 3.0)
    assert store.record_tries([outcome], NOW) == {delivery.id: "delivered"}
    assert store.prune_batch(models.Status.COMPLETED, NOW - 7 * DAY, 100) == 1
    with pytest.raises(models.TaskNotFound):
        store.deliveries_of(kept)
    p = store.db.param
    for table in ("webhook_deliveries", "webhook_tries"):
        cursor = store.db.execute_sql(f"SELECT COUNT(*) FROM {table} WHERE task_id = {p}", (kept,))
        assert cursor.fetchone()[0] == 0


def test_pruning_frees_the_idempotency_key(store):
    finished(store, models.Status.COMPLETED, NOW - 8 * DAY, key="order-1")
    assert store.find_by_key("order-1") is not None
    store.prune_batch(models.Status.COMPLETED, NOW - 7 * DAY, 100)
    assert store.find_by_key("order-1") is None
    again = models.TaskOptions(max_attempts=1, idempotency_key="order-1", request_hash="h")
    store.enqueue([models.new_task("x", {}, again)])
    assert store.find_by_key("order-1") is not None


def test_the_pruner_reads_an_index_of_finished_tasks(store):
    p = store.db.param
    plan = store.explain(
        f"SELECT id FROM tasks {store.index_hint('tasks_finished')} "
        f"WHERE status IN ('completed', 'dead', 'canceled') AND status = 'completed' "
        f"AND processed_at < {p} ORDER BY processed_at LIMIT 100",
        (int(NOW),),
    )
    assert "tasks_finished" in plan, plan
