"""Group commit, backpressure at the door, and refusing one request without its group."""

from __future__ import annotations

import threading

import pytest

import models
from tests.web.client import wait_for


def test_concurrent_accepts_are_all_stored_in_fewer_commits(store):
    intake = models.Intake(store)
    start = threading.Barrier(16)
    accepted: list[str] = []
    lock = threading.Lock()

    def client() -> None:
        start.wait()
        for _ in range(25):
            row = models.new_task("x", {})
            intake.accept([row])  # returns only once the row is committed
            with lock:
                accepted.append(row["id"])
        store.close()

    threads = [threading.Thread(target=client) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    intake.close()
    stored = {task["id"] for task in store.list_tasks(limit=1000)}
    assert len(accepted) == 400
    assert stored == set(accepted)
    assert intake.commits < 400


def test_a_row_that_breaks_a_constraint_fails_only_its_own_request(store):
    # Given a stored task, and the writer thread held up so that three requests share a group
    intake = models.Intake(store)
    row = models.new_task("x", {})
    intake.accept([row])
    hold = threading.Event()
    holding = threading.Event()

    def held_enqueue(rows, tell_here=True, tell_others=True, claim=None, _original=store.enqueue):
        holding.set()
        hold.wait(10)
        return _original(rows, tell_here, tell_others, claim)

    outcomes: dict[str, BaseException | None] = {}

    def accept(name, rows):
        try:
            intake.accept(rows)
            outcomes[name] = None
        except models.TaskQueueError as exc:
            outcomes[name] = exc

    store.enqueue = held_enqueue
    first = [models.new_task("first", {})]
    blocker = threading.Thread(target=accept, args=("first", first))
    blocker.start()
    holding.wait(10)
    # When three requests queue behind it, the middle one repeating the stored id
    good_before = [models.new_task("a", {})]
    clashing = [models.new_task("y", {}), row]
    good_after = [models.new_task("b", {})]

    threads = [
        threading.Thread(target=accept, args=(name, rows))
        for name, rows in (("before", good_before), ("clash", clashing), ("after", good_after))
    ]
    for thread in threads:
        thread.start()
    wait_for(  # all three wait for the same group commit
        lambda: intake._queue.qsize() >= 3,
        10,
        lambda: f"the three requests to queue; queued: {intake._queue.qsize()}",
    )
    del store.enqueue
    hold.set()
    blocker.join()
    for thread in threads:
        thread.join()
    intake.close()
    # Then only the clashing request is refused, as a conflict (409), and nothing of it is stored
    assert outcomes["first"] is None
    assert outcomes["before"] is None and outcomes["after"] is None
    assert isinstance(outcomes["clash"], models.Conflict)
    assert store.get_task(good_before[0]["id"])["status"] == "queued"
    assert store.get_task(good_after[0]["id"])["status"] == "queued"
    with pytest.raises(models.TaskNotFound):
        store.get_task(clashing[0]["id"])


def test_max_queued_refuses_past_the_cap_until_the_backlog_drains(store):
    now = [0.0]
    intake = models.Intake(store, models.IntakeConfig(max_queued=5), clock=lambda: now[0])
    intake.accept([models.new_task("x", {}) for _ in range(3)])
    intake.accept([models.new_task("x", {}) for _ in range(2)])
    with pytest.raises(models.Unavailable, match="queue full") as refused:
        intake.accept([models.new_task("x", {})])
    assert refused.value.retry_in_seconds >= 1
    assert store.count_backlog() == 5
    # When workers claim three, the next recount lets three more in
    store.claim("h:1", "n", 3, 2e9, 30)
    now[0] += 1
    intake.accept([models.new_task("x", {}) for _ in range(3)])
    with pytest.raises(models.Unavailable, match="queue full"):
        intake.accept([models.new_task("x", {})])
    intake.close()
    assert store.count_backlog() == 5


class StartAll:
    """``StartHere`` of a process whose idle workers take whatever is asked."""

    def __init__(self) -> None:
        self.handed: list[str] = []

    def claim_for(self, count: int, queues: set[str]) -> models.ClaimRequest:
        return models.ClaimRequest("host:1", "node-a", count, sorted(queues), 30.0)

    def hand_over(self, tasks: list[models.ClaimedTask]) -> None:
        self.handed += [task.id for task in tasks]


def test_tasks_claimed_as_they_are_stored_are_handed_over_and_their_caller_told(store):
    start = StartAll()
    intake = models.Intake(store, tell_here=False, start_here=start)
    try:
        # When idle workers take a new task
        row = models.new_task("x", {})
        # Then it is claimed in the same commit, handed over, and its caller need wake nobody
        assert intake.accept([row]) is True
        assert intake.commits == 1
        assert start.handed == [row["id"]]
        assert store.get_task(row["id"])["status"] == "running"
    finally:
        intake.close()


def test_a_claim_that_takes_an_older_task_leaves_the_new_one_to_the_caller(store):
    # Given an older task due and waiting (its dispatcher has not claimed it yet)
    older = models.new_task("x", {"n": 0})
    store.enqueue([older])
    start = StartAll()
    intake = models.Intake(store, tell_here=False, start_here=start)
    try:
        # When a new task is stored with a claim for one idle worker
        row = models.new_task("x", {"n": 1})
        started = intake.accept([row])
    finally:
        intake.close()
    # Then the claim takes the older one, best first, and the caller must wake the
    # dispatcher for the new one, which waits queued
    assert start.handed == [older["id"]]
    assert started is False
    assert store.get_task(row["id"])["status"] == "queued"
