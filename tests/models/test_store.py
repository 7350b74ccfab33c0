"""The storage contract, run against every backend (SQLite and PostgreSQL), as huey's
storage tests are: the same operations must leave the same rows on each."""

from __future__ import annotations

import random
import threading

import orjson
import pytest

import models
from models import Failure, Status

OWNER = "host-a:1"
OTHER = "host-b:2"
NOW = 1_700_000_000.0  # in the past: the acceptance clock never runs backwards
LEASE = 30.0


def enqueue(store, count: int, action: str = "uppercase", now: float = NOW - 60) -> list[str]:
    rows = [models.new_task(action, {"text": f"t{i}"}, now_ns=int(now * 1e9)) for i in range(count)]
    store.enqueue(rows)
    return [row["id"] for row in rows]


def enqueue_to(store, queue: str, count: int) -> list[str]:
    options = models.TaskOptions(max_attempts=5, queue=queue)
    rows = [models.new_task("uppercase", {"text": f"q{i}"}, options) for i in range(count)]
    store.enqueue(rows)
    return [row["id"] for row in rows]


def clock_now() -> float:
    return models.clock.now()


def status_of(store, task_id: str) -> str:
    return store.get_task(task_id)["status"]


def test_enqueued_task_is_stored_queued_with_its_payload(store):
    # Given a task accepted at NOW
    [task_id] = enqueue(store, 1)
    # Then it is on disk as queued, with the submitted payload
    task = store.get_task(task_id)
    assert task["status"] == "queued"
    assert task["attempts"] == 0
    assert orjson.loads(task["payload"]) == {
        "id": task_id,
        "action": "uppercase",
        "data": {"text": "t0"},
        "created_at": int(NOW - 60),
    }


def test_claim_takes_due_tasks_oldest_first_and_counts_the_attempt(store):
    ids = enqueue(store, 3)
    claimed = store.claim(OWNER, "node-a", 2, NOW, LEASE)
    assert [task.id for task in claimed] == ids[:2]
    assert all(task.attempts == 1 for task in claimed)
    assert claimed[0].data == {"text": "t0"}
    assert [status_of(store, i) for i in ids] == ["running", "running", "queued"]
    assert store.get_task(ids[0])["node"] == "node-a"


def test_an_enqueue_with_a_claim_stores_and_claims_in_one_transaction(store):
    # Given an older task waiting in another queue, and two new ones
    [elsewhere] = enqueue_to(store, "mail", 1)
    rows = [models.new_task("uppercase", {"text": f"n{i}"}) for i in range(2)]
    # When they are stored with a claim for one task of "default"
    claim = models.ClaimRequest(OWNER, "node-a", 1, ["default"], LEASE)
    claimed = store.enqueue(rows, claim=claim)
    # Then the first of them is claimed, under the claim's lease, and the other waits
    assert [task.id for task in claimed] == [rows[0]["id"]]
    first, second = (store.get_task(row["id"]) for row in rows)
    assert (first["status"], first["attempts"], first["node"]) == ("running", 1, "node-a")
    assert store.lease_owners() == [OWNER]
    assert (second["status"], second["attempts"]) == ("queued", 0)
    assert status_of(store, elsewhere) == "queued"
    assert [e["kind"] for e in store.events_of(rows[0]["id"])] == ["created", "claimed"]
    # And the claimed attempt settles as any other
    done = models.Outcome(claimed[0], models.Ending.COMPLETED, result_json="1")
    assert store.settle([done], clock_now()).statuses == {rows[0]["id"]: Status.COMPLETED}


def test_an_enqueue_with_a_claim_claims_nothing_from_a_paused_queue(store):
    store.pause("default", "ops", clock_now())
    row = models.new_task("uppercase", {"text": "x"})
    claim = models.ClaimRequest(OWNER, "node-a", 1, ["default"], LEASE)
    assert store.enqueue([row], claim=claim) == []
    assert status_of(store, row["id"]) == "queued"


def test_claim_never_hands_out_a_task_twice(store):
    enqueue(store, 5)
    first = store.claim(OWNER, "a", 3, NOW, LEASE)
    second = store.claim(OTHER, "b", 10, NOW, LEASE)
    assert len(first) == 3 and len(second) == 2
    assert not {t.id for t in first} & {t.id for t in second}
    assert store.claim(OTHER, "b", 10, NOW, LEASE) == []


def test_concurrent_claims_from_many_threads_split_the_tasks(store):
    # Given 200 tasks and 8 threads claiming in small batches at once
    ids = set(enqueue(store, 200))
    claimed: list[list[str]] = [[] for _ in range(8)]
    start = threading.Barrier(8)

    def claimer(index: int) -> None:
        start.wait()
        while batch := store.claim(f"h:{index}", "n", 7, NOW, LEASE):
            claimed[index].extend(task.id for task in batch)
        store.close()

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then every task was claimed exactly once
    everything = [task_id for batch in claimed for task_id in batch]
    assert len(everything) == len(set(everything)) == 200
    assert set(everything) == ids


def test_finishing_is_fenced_by_the_claim(store):
    # Given a task claimed, taken back by the rescue, and claimed again elsewhere
    [task_id] = enqueue(store, 1)
    [stale] = store.claim(OWNER, "a", 1, NOW, LEASE)
    store.rescue(NOW + LEASE + 1, max_attempts=5)
    [current] = store.claim(OTHER, "b", 1, NOW + LEASE + 1, LEASE)
    # Then the old holder can neither complete, fail nor release it
    assert store.complete_many([(stale, '{"output": 1}')], NOW) == 0
    assert store.fail(stale, Failure("late"), NOW, 5, 0) is None
    assert store.release([stale]) == 0
    assert status_of(store, task_id) == "running"
    # And the current holder completes it
    assert store.complete_many([(current, '{"output": 1}')], NOW + 40) == 1
    task = store.get_task(task_id)
    assert (task["status"], task["attempts"]) == ("completed", 2)
    assert orjson.loads(task["result"]) == {"output": 1}
    assert task["processed_at"] == int(NOW + 40)
    assert task["node"] == "b"
    # And finishing twice does nothing the second time
    assert store.complete_many([(current, '{"output": 2}')], NOW + 41) == 0


def test_failed_attempts_retry_with_backoff_then_die(store):
    [task_id] = enqueue(store, 1)
    rng = random.Random(7)
    now = NOW
    failure = Failure("ValueError: no", 'Traceback …\n  File "a.py", line 1\nValueError: no')
    for attempt in (1, 2):
        [task] = store.claim(OWNER, "a", 1, now, LEASE)
        assert task.attempts == attempt
        assert store.fail(task, failure, now, 3, 1.0, rng) == Status.RETRYING
        # Not due before its backoff: 1 s, then 2 s (plus at most 25 % jitter)
        base = 2 ** (attempt - 1)
        assert store.claim(OWNER, "a", 1, now + base - 0.01, LEASE) == []
        now += base * 1.25 + 0.01
    [task] = store.claim(OWNER, "a", 1, now, LEASE)
    assert store.fail(task, failure, now, 3, 1.0, rng) == Status.DEAD
    task = store.get_task(task_id)
    assert task["status"] == "dead"
    assert task["error"] == "ValueError: no"
    assert task["traceback"] == failure.traceback
    assert task["attempts"] == 3
    assert store.claim(OWNER, "a", 1, now + 3600, LEASE) == []


def test_retry_delay_is_exponential_with_bounded_jitter():
    rng = random.Random(1)
    for attempts in range(1, 8):
        delay = models.retry_delay_seconds(attempts, 0.5, rng)
        base = 0.5 * 2 ** (attempts - 1)
        assert base <= delay <= base * 1.25


def test_release_refunds_the_attempt_and_requeues(store):
    ids = enqueue(store, 2)
    claimed = store.claim(OWNER, "a", 2, NOW, LEASE)
    assert store.release(claimed) == 2
    tasks = [store.get_task(i) for i in ids]
    assert [(task["status"], task["attempts"]) for task in tasks] == [("queued", 0)] * 2
    assert len(store.claim(OWNER, "a", 5, NOW, LEASE)) == 2


def test_release_after_a_failed_attempt_is_retrying_again(store):
    [task_id] = enqueue(store, 1)
    [first] = store.claim(OWNER, "a", 1, NOW, LEASE)
    store.fail(first, Failure("E: 1"), NOW, 5, 0)
    [second] = store.claim(OWNER, "a", 1, NOW + 1, LEASE)
    assert store.release([second]) == 1
    task = store.get_task(task_id)
    assert (task["status"], task["attempts"]) == ("retrying", 1)


def test_rescue_takes_back_expired_leases_and_counts_the_attempt(store):
    ids = enqueue(store, 2)
    store.claim(OWNER, "a", 1, NOW, LEASE)
    store.claim(OTHER, "b", 1, NOW + 10, LEASE)
    # Before any lease expires nothing moves
    assert store.rescue(NOW + LEASE - 1, max_attempts=5) == []
    # After the first lease expires only that task is taken back
    assert store.rescue(NOW + LEASE + 1, max_attempts=5) == [models.Rescued(ids[0], Status.QUEUED)]
    task = store.get_task(ids[0])
    assert (task["status"], task["attempts"]) == ("queued", 1)
    assert "interrupted" in task["error"]
    assert status_of(store, ids[1]) == "running"


def test_rescue_takes_back_dead_owners_at_once(store):
    ids = enqueue(store, 2)
    store.claim(OWNER, "a", 1, NOW, LEASE)
    store.claim(OTHER, "b", 1, NOW, LEASE)
    assert sorted(store.lease_owners()) == sorted([OWNER, OTHER])
    rescued = store.rescue(NOW, max_attempts=5, dead_owners=[OWNER])
    assert rescued == [models.Rescued(ids[0], Status.QUEUED)]
    assert status_of(store, ids[1]) == "running"


def test_rescue_kills_a_task_that_used_all_its_attempts(store):
    [task_id] = enqueue(store, 1)
    now = NOW
    for _ in range(2):  # a task whose process dies every time it runs
        store.claim(OWNER, "a", 1, now, LEASE)
        now += LEASE + 1
        store.rescue(now, max_attempts=2)
    task = store.get_task(task_id)
    assert (task["status"], task["attempts"]) == ("dead", 2)


def test_heartbeat_extends_only_the_owners_leases(store):
    ids = enqueue(store, 2)
    store.claim(OWNER, "a", 1, NOW, LEASE)
    store.claim(OTHER, "b", 1, NOW, LEASE)
    assert store.heartbeat(OWNER, ids, NOW + 20, LEASE) == 1
    rescued = store.rescue(NOW + LEASE + 1, max_attempts=5)
    assert rescued == [models.Rescued(ids[1], Status.QUEUED)]
    assert status_of(store, ids[0]) == "running"


def test_listing_is_newest_first_within_one_second_and_filters(store):
    # Given tasks accepted in the same second, one after another
    ids = enqueue(store, 5)
    store.claim(OWNER, "a", 2, NOW, LEASE)
    assert [task["id"] for task in store.list_tasks()] == ids[::-1]
    assert [task["id"] for task in store.list_tasks(limit=2)] == ids[::-1][:2]
    assert [task["id"] for task in store.list_tasks(status=Status.RUNNING)] == ids[:2][::-1]
    assert store.list_tasks(status=Status.DEAD) == []
    assert set(store.list_tasks()[0]) == set(models.VIEW_FIELDS)


def test_get_task_raises_not_found(store):
    with pytest.raises(models.TaskNotFound):
        store.get_task("no-such-id")
    with pytest.raises(models.TaskNotFound):
        store.get_task("a\x00b")  # not even asked: PostgreSQL would refuse the query


def test_count_by_status_covers_every_status(store):
    enqueue(store, 3)
    store.claim(OWNER, "a", 1, NOW, LEASE)
    assert store.count_by_status() == {
        Status.SCHEDULED: 0,
        Status.QUEUED: 2,
        Status.RUNNING: 1,
        Status.COMPLETED: 0,
        Status.RETRYING: 0,
        Status.DEAD: 0,
        Status.CANCELED: 0,
    }
    assert store.count_backlog() == 2


def test_each_group_of_rows_is_stored_or_refused_alone(store):
    # Given one stored task, and three groups of which the middle repeats its id
    [stored] = [models.new_task("x", {})]
    store.enqueue([stored])
    fine = [models.new_task("a", {}), models.new_task("b", {})]
    clashing = [models.new_task("c", {}), stored]
    last = [models.new_task("d", {})]
    # When they are stored together
    outcomes = store.enqueue_each([fine, clashing, last])
    # Then only the clashing group is refused, as a conflict, and none of it is stored
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], models.Conflict)
    for row in [*fine, *last]:
        assert status_of(store, row["id"]) == "queued"
    with pytest.raises(models.TaskNotFound):
        store.get_task(clashing[0]["id"])


def test_new_task_refuses_what_no_backend_can_store():
    with pytest.raises(models.InvalidInput, match="U\\+0000"):
        models.new_task("a\x00b", {})
    deep: dict = {}
    for _ in range(300):
        deep = {"d": deep}
    with pytest.raises(models.InvalidInput, match="nested too deeply"):
        models.new_task("x", deep)


def test_a_queue_whose_first_enqueue_rolled_back_is_made_by_the_next(store, monkeypatch):
    in_fresh = models.TaskOptions(max_attempts=3, queue="fresh")

    def fails(rows):
        raise RuntimeError("the commit fails after the queue's row was written")

    # When the first enqueue into a new queue fails after writing the queue's row
    monkeypatch.setattr(store, "_record_scheduled", fails)
    with pytest.raises(RuntimeError):
        store.enqueue([models.new_task("x", {}, in_fresh)])
    monkeypatch.undo()
    assert "fresh" not in [state.name for state in store.queue_states()]
    # Then the next enqueue into it makes the row (the queue is not taken as made already)
    store.enqueue([models.new_task("x", {}, in_fresh)])
    assert "fresh" in [state.name for state in store.queue_states()]
