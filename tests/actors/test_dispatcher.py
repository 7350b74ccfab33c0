"""The dispatcher alone, with probe workers: round-robin and the prefetch bound."""

from __future__ import annotations

import pykka

import models
from actors import (
    AttachWorker,
    Dispatcher,
    Executed,
    Flush,
    HeldCounts,
    QueueConfig,
    RunTask,
    Wake,
    WorkerSlot,
)
from models import Status

from .helpers import Latch, ProbeWorker

CONFIG = QueueConfig(workers=2, prefetch=5, owner="test-host:1", lease_seconds=30)


def start_dispatcher(store, config: QueueConfig = CONFIG):
    dispatcher = Dispatcher.start(config, store)
    inboxes = [[] for _ in range(config.workers)]
    latch = Latch()
    for index in range(config.workers):
        probe = ProbeWorker.start(inboxes[index], latch)
        dispatcher.tell(AttachWorker(index, probe, WorkerSlot(index)))
    return dispatcher, inboxes, latch


def completed(attempt) -> models.Outcome:
    return models.Outcome(attempt.task, models.Ending.COMPLETED, result_json="{}")


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
