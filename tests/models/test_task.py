"""State transitions of the Task model, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
import threading

import orjson
import pytest

import models

OWNER = "host-a:1"
OTHER = "host-b:2"
NOW = 1_700_000_000.0  # in the past: the acceptance clock never runs backwards
LEASE = 30.0


def enqueue(count: int, action: str = "uppercase", now: float = NOW - 60) -> list[str]:
    rows = [models.new_task(action, {"text": f"t{i}"}, now_ns=int(now * 1e9)) for i in range(count)]
    models.enqueue(rows)
    return [row["id"] for row in rows]


def status_of(task_id: str) -> str:
    return dict(zip(models.VIEW_FIELDS, models.get_task(task_id), strict=False))["status"]


def view(task_id: str) -> dict:
    return dict(zip(models.VIEW_FIELDS, models.get_task(task_id), strict=False))


def test_enqueued_task_is_stored_queued_with_its_payload(db):
    # Given a task accepted at NOW
    [task_id] = enqueue(1)
    # Then it is on disk as queued, with the submitted payload
    task = view(task_id)
    assert task["status"] == "queued"
    assert task["attempts"] == 0
    assert orjson.loads(task["payload"]) == {
        "id": task_id,
        "action": "uppercase",
        "data": {"text": "t0"},
        "created_at": int(NOW - 60),
    }


def test_claim_takes_due_tasks_oldest_first_and_counts_the_attempt(db):
    ids = enqueue(3)
    claimed = models.claim(OWNER, "node-a", 2, NOW, LEASE)
    assert [task.id for task in claimed] == ids[:2]
    assert all(task.attempts == 1 for task in claimed)
    assert claimed[0].data == {"text": "t0"}
    assert [status_of(i) for i in ids] == ["running", "running", "queued"]
    assert view(ids[0])["node"] == "node-a"


def test_claim_never_hands_out_a_task_twice(db):
    enqueue(5)
    first = models.claim(OWNER, "a", 3, NOW, LEASE)
    second = models.claim(OTHER, "b", 10, NOW, LEASE)
    assert len(first) == 3 and len(second) == 2
    assert not {t.id for t in first} & {t.id for t in second}
    assert models.claim(OTHER, "b", 10, NOW, LEASE) == []


def test_concurrent_claims_from_many_threads_split_the_tasks(db):
    # Given 200 tasks and 8 threads claiming in small batches at once
    ids = set(enqueue(200))
    claimed: list[list[str]] = [[] for _ in range(8)]
    start = threading.Barrier(8)

    def claimer(index: int) -> None:
        start.wait()
        while batch := models.claim(f"h:{index}", "n", 7, NOW, LEASE):
            claimed[index].extend(task.id for task in batch)
        models.database.obj.close()

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then every task was claimed exactly once
    everything = [task_id for batch in claimed for task_id in batch]
    assert len(everything) == len(set(everything)) == 200
    assert set(everything) == ids


def test_finishing_is_fenced_by_the_claim(db):
    # Given a task claimed, taken back by the rescue, and claimed again elsewhere
    [task_id] = enqueue(1)
    [stale] = models.claim(OWNER, "a", 1, NOW, LEASE)
    models.rescue(NOW + LEASE + 1, max_attempts=5)
    [current] = models.claim(OTHER, "b", 1, NOW + LEASE + 1, LEASE)
    # Then the old holder can neither complete, fail nor release it
    assert models.complete_many([(stale, '{"output": 1}')], NOW) == 0
    assert models.fail(stale, "late", NOW, 5, 0) is None
    assert models.release([stale]) == 0
    assert status_of(task_id) == "running"
    # And the current holder completes it
    assert models.complete_many([(current, '{"output": 1}')], NOW + 40) == 1
    task_view = view(task_id)
    assert (task_view["status"], task_view["attempts"]) == ("completed", 2)
    assert orjson.loads(task_view["result"]) == {"output": 1}
    assert task_view["processed_at"] == int(NOW + 40)
    assert task_view["node"] == "b"
    # And finishing twice does nothing the second time
    assert models.complete_many([(current, '{"output": 2}')], NOW + 41) == 0


def test_failed_attempts_retry_with_backoff_then_die(db):
    [task_id] = enqueue(1)
    rng = random.Random(7)
    now = NOW
    for attempt in (1, 2):
        [task] = models.claim(OWNER, "a", 1, now, LEASE)
        assert task.attempts == attempt
        assert models.fail(task, "ValueError: no", now, 3, 1.0, rng) == "retrying"
        # Not due before its backoff: 1 s, then 2 s (plus at most 25 % jitter)
        base = 2 ** (attempt - 1)
        assert models.claim(OWNER, "a", 1, now + base - 0.01, LEASE) == []
        now += base * 1.25 + 0.01
    [task] = models.claim(OWNER, "a", 1, now, LEASE)
    assert models.fail(task, "ValueError: no", now, 3, 1.0, rng) == "dead"
    task_view = view(task_id)
    assert task_view["status"] == "dead"
    assert task_view["error"] == "ValueError: no"
    assert task_view["attempts"] == 3
    assert models.claim(OWNER, "a", 1, now + 3600, LEASE) == []


def test_retry_delay_is_exponential_with_bounded_jitter():
    rng = random.Random(1)
    for attempts in range(1, 8):
        delay = models.retry_delay_seconds(attempts, 0.5, rng)
        base = 0.5 * 2 ** (attempts - 1)
        assert base <= delay <= base * 1.25


def test_release_refunds_the_attempt_and_requeues(db):
    ids = enqueue(2)
    claimed = models.claim(OWNER, "a", 2, NOW, LEASE)
    assert models.release(claimed) == 2
    assert [(view(i)["status"], view(i)["attempts"]) for i in ids] == [("queued", 0)] * 2
    assert len(models.claim(OWNER, "a", 5, NOW, LEASE)) == 2


def test_rescue_takes_back_expired_leases_and_counts_the_attempt(db):
    ids = enqueue(2)
    models.claim(OWNER, "a", 1, NOW, LEASE)
    models.claim(OTHER, "b", 1, NOW + 10, LEASE)
    # Before any lease expires nothing moves
    assert models.rescue(NOW + LEASE - 1, max_attempts=5) == []
    # After the first lease expires only that task is taken back
    assert models.rescue(NOW + LEASE + 1, max_attempts=5) == [(ids[0], "queued")]
    task = view(ids[0])
    assert (task["status"], task["attempts"]) == ("queued", 1)
    assert "interrupted" in task["error"]
    assert status_of(ids[1]) == "running"


def test_rescue_takes_back_dead_owners_at_once(db):
    ids = enqueue(2)
    models.claim(OWNER, "a", 1, NOW, LEASE)
    models.claim(OTHER, "b", 1, NOW, LEASE)
    assert sorted(models.lease_owners()) == sorted([OWNER, OTHER])
    assert models.rescue(NOW, max_attempts=5, dead_owners=[OWNER]) == [(ids[0], "queued")]
    assert status_of(ids[1]) == "running"


def test_rescue_kills_a_task_that_used_all_its_attempts(db):
    [task_id] = enqueue(1)
    now = NOW
    for _ in range(2):  # a task whose process dies every time it runs
        models.claim(OWNER, "a", 1, now, LEASE)
        now += LEASE + 1
        models.rescue(now, max_attempts=2)
    task = view(task_id)
    assert (task["status"], task["attempts"]) == ("dead", 2)


def test_heartbeat_extends_only_the_owners_leases(db):
    ids = enqueue(2)
    models.claim(OWNER, "a", 1, NOW, LEASE)
    models.claim(OTHER, "b", 1, NOW, LEASE)
    assert models.heartbeat(OWNER, ids, NOW + 20, LEASE) == 1
    rescued = models.rescue(NOW + LEASE + 1, max_attempts=5)
    assert rescued == [(ids[1], "queued")]
    assert status_of(ids[0]) == "running"


def test_listing_is_newest_first_within_one_second_and_filters(db):
    # Given tasks accepted in the same second, one after another
    ids = enqueue(5)
    models.claim(OWNER, "a", 2, NOW, LEASE)
    listed = [row[0] for row in models.list_tasks()]
    assert listed == ids[::-1]
    assert [row[0] for row in models.list_tasks(limit=2)] == ids[::-1][:2]
    assert [row[0] for row in models.list_tasks(status="running")] == ids[:2][::-1]
    assert [row[0] for row in models.list_tasks(status="dead")] == []


def test_get_task_raises_not_found(db):
    with pytest.raises(models.TaskNotFound):
        models.get_task("no-such-id")


def test_count_by_status_covers_every_status(db):
    enqueue(3)
    models.claim(OWNER, "a", 1, NOW, LEASE)
    assert models.count_by_status() == {
        "queued": 2,
        "running": 1,
        "completed": 0,
        "retrying": 0,
        "dead": 0,
    }
