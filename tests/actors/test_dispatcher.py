"""The dispatcher alone, with probe workers: round-robin and the prefetch bound."""

from __future__ import annotations

import threading
import time

import pykka

import models
from actors import (
    AttachWorker,
    CancelRequested,
    Claimed,
    Dispatcher,
    Executed,
    Flush,
    HeldCounts,
    Poll,
    QueueConfig,
    RunTask,
    StopClaiming,
    Wake,
    WorkerSlot,
)
from actors import dispatcher as dispatcher_module
from actors.config import CLAIM_AHEAD_ROUNDS, MAX_COMMIT_DELAY_SECONDS, REFILL_AT_ROUNDS
from actors.finished import FinishedBoard
from actors.room import IdleRoom, StartAtOnce
from models import Status

from .helpers import Latch, ProbeWorker

CONFIG = QueueConfig(workers=2, prefetch=5, owner="test-host:1", lease_seconds=30)


def start_dispatcher(
    store,
    config: QueueConfig = CONFIG,
    board: FinishedBoard | None = None,
    room: IdleRoom | None = None,
):
    dispatcher = Dispatcher.start(config, store, board=board, room=room)
    inboxes = [[] for _ in range(config.workers)]
    latch = Latch()
    for index in range(config.workers):
        probe = ProbeWorker.start(inboxes[index], latch)
        dispatcher.tell(AttachWorker(index, probe, WorkerSlot(index)))
    return dispatcher, inboxes, latch


def completed(attempt) -> models.Outcome:
    return models.Outcome(attempt.task, models.Ending.COMPLETED, result_json="{}")


def ran_for(attempt, seconds: float) -> models.Outcome:
    """A completion whose attempt ran ``seconds``, as a worker reports it."""
    started = 1_796_000_000.0
    return models.Outcome(
        attempt.task,
        models.Ending.COMPLETED,
        result_json="{}",
        started_at=started,
        finished_at=started + seconds,
    )


def enqueue(store, count: int) -> list[str]:
    rows = [models.new_task("echo", {"n": i}) for i in range(count)]
    store.enqueue(rows)
    return [row["id"] for row in rows]


def test_tasks_go_round_robin_to_the_workers(store):
    # Given two workers and six queued tasks
    ids = enqueue(store, 6)
    dispatcher, inboxes, latch = start_dispatcher(store)
    # When the dispatcher wakes
    dispatcher.tell(Wake())
    latch.wait(6)
    # Then the workers get alternate tasks, oldest first
    assert [m.attempt.id for m in inboxes[0]] == ids[0::2]
    assert [m.attempt.id for m in inboxes[1]] == ids[1::2]
    assert all(isinstance(m, RunTask) for inbox in inboxes for m in inbox)


def test_each_worker_holds_at_most_prefetch_and_the_backlog_stays_in_the_database(store):
    # Given a backlog of 30 tasks
    enqueue(store, 30)
    dispatcher, inboxes, latch = start_dispatcher(store)
    # When the dispatcher wakes repeatedly while nothing finishes
    for _ in range(5):
        dispatcher.tell(Wake())
    latch.wait(10)
    # Then each worker holds exactly prefetch tasks and the rest stay queued
    assert dispatcher.ask(HeldCounts()) == [5, 5]
    assert [len(inbox) for inbox in inboxes] == [5, 5]
    counts = store.count_by_status()
    assert (counts[Status.RUNNING], counts[Status.QUEUED]) == (10, 20)

    # When worker 0 finishes two tasks, it gets exactly two more
    for message in inboxes[0][:2]:
        dispatcher.tell(Executed(0, completed(message.attempt)))
    latch.wait(12)
    assert dispatcher.ask(HeldCounts()) == [5, 5]
    assert [len(inbox) for inbox in inboxes] == [7, 5]
    assert store.count_by_status()[Status.QUEUED] == 18


def test_a_dead_worker_gets_no_tasks_and_its_replacement_takes_its_place(store):
    ids = enqueue(store, 4)
    dispatcher, inboxes, latch = start_dispatcher(store)
    dispatcher.tell(Wake())
    latch.wait(4)
    held_by_0 = [m.attempt.id for m in inboxes[0]]
    probes = pykka.ActorRegistry.get_by_class(ProbeWorker)
    # When worker 0 dies, and tasks are due while it is dead
    probes[0].stop()
    more = enqueue(store, 4)
    done = [message.attempt.id for message in inboxes[1]]
    for message in list(inboxes[1]):
        dispatcher.tell(Executed(1, completed(message.attempt)))
    dispatcher.tell(Wake())  # as the web handler does after an enqueue
    # Then the dead worker got none of them (a stopped probe records nothing, so ask the
    # dispatcher, after the messages it handles first): it holds only its two, and all
    # four went to the live one, which has room for them
    assert dispatcher.ask(HeldCounts()) == [len(held_by_0), 4]
    latch.wait(4 + 4)
    assert [m.attempt.id for m in inboxes[1]][2:] == more
    # When it is replaced after crashing on its first task
    crashed = inboxes[0][0].attempt
    replacement_inbox: list = []
    replacement = ProbeWorker.start(replacement_inbox, latch)
    dispatcher.tell(
        AttachWorker(0, replacement, WorkerSlot(0), crashed=crashed, error="Crash: boom")
    )
    dispatcher.tell(Wake())
    # Then the crashed attempt counts as failed, the other task it held is requeued,
    # and the replacement is fed again
    latch.wait(8 + 1)
    crashed_task = store.get_task(crashed.id)
    assert crashed_task["status"] == "retrying"
    assert crashed_task["error"] == "worker crashed: Crash: boom"
    assert [m.attempt.id for m in replacement_inbox] == [held_by_0[1]]
    dispatcher.ask(Flush())
    assert {t["id"] for t in store.list_tasks() if t["status"] == "completed"} == set(done)
    assert (set(ids) | set(more)) - set(done) == {
        t["id"] for t in store.list_tasks() if t["status"] in ("running", "retrying")
    }


def test_a_crash_report_naming_an_older_attempt_does_not_drop_the_newer_one(store):
    """The crashed attempt is matched by its claim: a report that names an attempt of a
    task already settled and claimed again must not take the newer attempt with it
    (before, it was failed under the old claim, discarded, and the newer attempt sat
    ``running`` until its lease expired, charged as a run it never had)."""
    config = QueueConfig(
        workers=2, prefetch=5, owner="test-host:1", lease_seconds=30, retry_backoff_seconds=0
    )
    [task_id] = enqueue(store, 1)
    dispatcher, inboxes, latch = start_dispatcher(store, config)
    dispatcher.tell(Wake())
    latch.wait(1)
    first = inboxes[0][0].attempt
    # Attempt 1 fails, and attempt 2 (due at once) goes to worker 1
    failure = models.Failure("ValueError: no")
    dispatcher.tell(Executed(0, models.Outcome(first.task, models.Ending.FAILED, failure=failure)))
    latch.wait(2)
    second = inboxes[1][0].attempt
    assert (second.id, second.task.attempts) == (task_id, 2)
    # When worker 1 is replaced with a report that names attempt 1
    replacement_inbox: list = []
    replacement = ProbeWorker.start(replacement_inbox, latch)
    dispatcher.tell(AttachWorker(1, replacement, WorkerSlot(1), crashed=first, error="Crash"))
    dispatcher.tell(Wake())
    # Then attempt 2, which never ran, is given back and claimed again, and not charged
    latch.wait(3)
    [again] = [message.attempt for message in inboxes[0][1:] + replacement_inbox]
    assert (again.id, again.task.attempts) == (task_id, 2)
    task = store.get_task(task_id)
    assert (task["status"], task["attempts"], task["error"]) == ("running", 2, "ValueError: no")


def completed_running_queued(store) -> tuple[int, int, int]:
    counts = store.count_by_status()
    return counts[Status.COMPLETED], counts[Status.RUNNING], counts[Status.QUEUED]


def lease_expires_at(store, task_id: str) -> float:
    cursor = store.db.execute_sql(
        f"SELECT lease_expires_at FROM tasks WHERE id = {store.db.param}", (task_id,)
    )
    return cursor.fetchone()[0]


def start_short_tasks(store, seconds: float, board: FinishedBoard | None = None):
    """60 queued; the workers take their 10; worker 0 reports its first two as having run
    ``seconds`` each. Returns the ids, the dispatcher and the probes' inboxes."""
    ids = enqueue(store, 60)
    dispatcher, inboxes, latch = start_dispatcher(store, board=board)
    dispatcher.tell(Wake())
    latch.wait(10)
    assert store.count_by_status()[Status.RUNNING] == 10  # nothing known yet of run times
    for message in inboxes[0][:2]:
        dispatcher.tell(Executed(0, ran_for(message.attempt, seconds)))
    latch.wait(12)
    assert dispatcher.ask(HeldCounts()) == [5, 5]
    return ids, dispatcher, inboxes, latch


def test_with_short_tasks_it_claims_three_times_the_workers_room_ahead_best_first(store):
    # Given attempts that run a millisecond
    ids, dispatcher, inboxes, latch = start_short_tasks(store, 0.001)
    # Then the claim took worker 0's room and three times what the workers hold
    assert CLAIM_AHEAD_ROUNDS == 3
    assert completed_running_queued(store) == (2, 40, 18)
    assert [m.attempt.id for m in inboxes[0]][5:] == ids[10:12]
    # When worker 1 finishes one, it gets the best of those kept ahead at once
    dispatcher.tell(Executed(1, ran_for(inboxes[1][0].attempt, 0.001)))
    latch.wait(13)
    assert inboxes[1][-1].attempt.id == ids[12]
    # When the leases are renewed, those kept ahead are renewed with the rest
    later = time.time() + 1000
    dispatcher.tell(Poll(later))
    dispatcher.ask(HeldCounts())
    assert lease_expires_at(store, ids[41]) == later + CONFIG.lease_seconds


def test_with_long_tasks_it_claims_only_the_workers_room(store):
    # Given attempts that run 50 ms: another node's idle workers could start the rest
    ids, dispatcher, inboxes, latch = start_short_tasks(store, 0.05)
    assert completed_running_queued(store) == (2, 10, 48)
    assert [m.attempt.id for m in inboxes[0]][5:] == ids[10:12]


def test_tasks_kept_ahead_are_canceled_at_once_and_given_back_at_a_stop(store):
    ids, dispatcher, inboxes, latch = start_short_tasks(store, 0.001)
    ahead = ids[12:42]
    # When one kept ahead is canceled
    assert store.cancel(ahead[0], "ops", 1_796_000_000.0) == Status.RUNNING
    dispatcher.tell(CancelRequested((ahead[0],)))
    # (a flush, not HeldCounts: a message behind the cancel, such as the alarm's
    # CommitDue, may defer its commit past HeldCounts, by at most the commit delay)
    dispatcher.ask(Flush())
    # Then it is canceled without having started
    task = store.get_task(ahead[0])
    assert (task["status"], task["attempts"]) == ("canceled", 0)
    # When the node stops claiming (a shutdown)
    dispatcher.ask(StopClaiming())
    # Then the others kept ahead are queued again, their attempt refunded; the workers'
    # tasks are still theirs
    for task_id in ahead[1:]:
        task = store.get_task(task_id)
        assert (task["status"], task["attempts"]) == ("queued", 0), task_id
    assert store.count_by_status()[Status.RUNNING] == 10
    assert all(m.attempt.id not in ahead for inbox in inboxes for m in inbox)


def test_with_short_tasks_outcomes_wait_for_a_group_and_settle_when_workers_run_low(
    store, monkeypatch
):
    # Given short tasks, 10 held and 30 kept ahead, and no deadline in the way
    monkeypatch.setattr(dispatcher_module, "MAX_COMMIT_DELAY_SECONDS", 60.0)
    ids, dispatcher, inboxes, latch = start_short_tasks(store, 0.001)
    mark = REFILL_AT_ROUNDS * CONFIG.prefetch * CONFIG.workers  # 15
    # When the workers finish tasks one at a time, each waited for, until the tasks held
    # and kept ahead are down to the mark (each finished task is replaced from those ahead)
    reported: list[str] = []
    unreported = [2, 0]  # worker 0 reported its first two already
    while 40 - len(reported) > mark:
        index = len(reported) % 2
        latch.wait(12 + len(reported))
        attempt = inboxes[index][unreported[index]].attempt
        unreported[index] += 1
        dispatcher.tell(Executed(index, ran_for(attempt, 0.001)))
        dispatcher.ask(HeldCounts())
        reported.append(attempt.id)
        if 40 - len(reported) > mark:
            # Then, while they are not, nothing is committed: the outcomes wait
            assert store.get_task(attempt.id)["status"] == "running"
    # And once they are, every outcome so far is committed in one go, with a claim of
    # what is left (18 queued, fewer than the room)
    assert len(reported) == 25
    assert {store.get_task(task_id)["status"] for task_id in reported} == {"completed"}
    assert completed_running_queued(store) == (2 + 25, 40 - 25 + 18, 0)


def test_an_outcome_waiting_for_a_group_is_committed_at_its_deadline_without_a_message(store):
    # Given short tasks, and 40 held and kept ahead: far more than the refill mark
    board = FinishedBoard()
    ids, dispatcher, inboxes, latch = start_short_tasks(store, 0.001, board)
    # When worker 1 finishes one, and then nothing more happens (the next tasks are slow)
    finished = inboxes[1][0].attempt
    done = board.watch(finished.id)
    reported = time.monotonic()
    dispatcher.tell(Executed(1, ran_for(finished, 0.001)))
    # Then the dispatcher's alarm commits it once it has waited its longest
    assert done.wait(5)
    assert time.monotonic() - reported >= MAX_COMMIT_DELAY_SECONDS
    assert store.get_task(finished.id)["status"] == "completed"


def test_the_room_says_how_many_tasks_idle_workers_can_start_now(store):
    room = IdleRoom()
    dispatcher, inboxes, latch = start_dispatcher(store, room=room)
    dispatcher.ask(HeldCounts())  # every message before it is handled
    # Two idle workers: two tasks of the queues it claims from start at once
    assert not room.takes(3, {"default"})
    assert not room.takes(1, {"mail"})  # a queue it has not heard of
    assert room.takes(2, {"default"})
    assert not room.takes(1, {"default"})
    # One task handed out: one idle worker left
    enqueue(store, 1)
    dispatcher.tell(Wake())
    latch.wait(1)
    assert dispatcher.ask(HeldCounts()) == [1, 0]
    assert room.takes(1, {"default"}) and not room.takes(1, {"default"})
    # It finishes: both idle again
    dispatcher.tell(Executed(0, completed(inboxes[0][0].attempt)))
    assert dispatcher.ask(HeldCounts()) == [0, 0]
    assert room.takes(2, {"default"})
    # A stopping dispatcher starts nothing more
    dispatcher.tell(StopClaiming())
    dispatcher.ask(HeldCounts())
    assert not room.takes(1, {"default"})
    dispatcher.stop()


def test_tasks_the_intake_claims_for_idle_workers_go_to_them_or_back_at_a_stop(store):
    room = IdleRoom()
    dispatcher, inboxes, latch = start_dispatcher(store, room=room)
    dispatcher.ask(HeldCounts())
    intake = models.Intake(store, tell_here=False, start_here=StartAtOnce(room, dispatcher, CONFIG))
    try:
        # When a task is accepted while the workers are idle (and nobody wakes the dispatcher)
        row = models.new_task("echo", {})
        assert intake.accept([row]) is True
        # Then it is claimed with its insert and reaches a worker
        latch.wait(1)
        assert [m.attempt.id for inbox in inboxes for m in inbox] == [row["id"]]
        assert store.get_task(row["id"])["status"] == "running"
        assert dispatcher.ask(HeldCounts()) == [1, 0]
        # When a task claimed that way reaches a dispatcher that stopped claiming
        dispatcher.ask(StopClaiming())
        late = models.new_task("echo", {})
        assert intake.accept([late]) is False  # no room any more: stored queued
        claimed = store.claim(CONFIG.owner, CONFIG.node, 1, models.clock.now(), 30, ["default"])
        assert [task.id for task in claimed] == [late["id"]]
        dispatcher.tell(Claimed(tuple(claimed)))
        dispatcher.ask(Flush())
        # Then it is given back, its attempt refunded, and no worker got it
        for task in claimed:
            assert (store.get_task(task.id)["status"], store.get_task(task.id)["attempts"]) == (
                "queued",
                0,
            )
        assert sum(len(inbox) for inbox in inboxes) == 1
    finally:
        intake.close()
        dispatcher.stop()


def test_a_wake_for_a_later_time_still_counts_when_its_claim_waits_for_more_messages(store):
    # Given a task made due at a later time (as the rescuer does when a lease expires)
    [task_id] = enqueue(store, 1)
    now = time.time()
    assert store.claim("other-host:1", "other", 1, now, 30)
    assert store.rescue(now + 31, 5)
    dispatcher, inboxes, latch = start_dispatcher(store)
    dispatcher.ask(HeldCounts())
    # And the dispatcher held up, so that two wakes queue behind what it is doing
    gate, inside = threading.Event(), threading.Event()
    original = store.queue_states

    def held_queue_states():
        inside.set()
        gate.wait(10)
        return original()

    store.queue_states = held_queue_states
    dispatcher.tell(Poll(now))  # claims at `now`: the task is not due yet
    assert inside.wait(10)
    # When the rescuer's wake for that later time comes with another message behind it
    dispatcher.tell(Wake(now + 31))
    dispatcher.tell(Wake())
    store.queue_states = original
    gate.set()
    # Then the claim that follows, whichever message makes it, is at that later time
    latch.wait(1)
    assert [m.attempt.id for inbox in inboxes for m in inbox] == [task_id]
