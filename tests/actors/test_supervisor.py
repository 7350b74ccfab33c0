"""The whole actor system, driven directly: retries, crashes, recovery, shutdown."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

import pykka
import pytest

import models
from actors import Boot, Poll, QueueConfig, Shutdown, Supervisor, Tick, Wake, Worker
from tests.web.client import wait_for

from .helpers import (
    WAIT_SECONDS,
    BlockingAction,
    Crash,
    Latch,
    a_dead_pid,
    flush_workers,
    registry_with,
)

OWNER = f"{socket.gethostname()}:{os.getpid()}"


def config(**overrides) -> QueueConfig:
    settings = dict(
        workers=2,
        prefetch=5,
        simulated_work_seconds=0,
        max_attempts=3,
        retry_backoff_seconds=0,
        owner=OWNER,
        lease_seconds=30,
    )
    settings.update(overrides)
    return QueueConfig(**settings)


def boot(store, registry, **overrides):
    supervisor = Supervisor.start(config(**overrides), registry, store, start_ticker=False)
    service = supervisor.ask(Boot(), timeout=WAIT_SECONDS)
    return supervisor, service


def enqueue(store, action: str, count: int = 1, **data) -> list[str]:
    rows = [models.new_task(action, dict(data, n=i)) for i in range(count)]
    store.enqueue(rows)
    return [row["id"] for row in rows]


def test_tasks_run_and_complete(store):
    latch = Latch()
    registry = registry_with(double=lambda data: latch.hit() or {"output": data["n"] * 2})
    supervisor, service = boot(store, registry)
    ids = enqueue(store, "double", 10)
    service.dispatcher.tell(Wake())
    latch.wait(10)
    flush_workers()
    assert [store.get_task(i)["status"] for i in ids] == ["completed"] * 10
    assert [store.get_task(i)["attempts"] for i in ids] == [1] * 10
    assert store.get_task(ids[3])["result"] == '{"output":6}'


def test_a_failing_action_is_retried_then_dead_and_the_worker_survives(store, caplog):
    # Given an action that always raises, and max_attempts 3 with no backoff
    calls = Latch()

    def always_fails(data):
        calls.hit()
        raise ValueError("no good")

    good_ran = Latch()
    registry = registry_with(bad=always_fails, good=lambda data: good_ran.hit() or {"ok": True})
    supervisor, service = boot(store, registry)
    [bad] = enqueue(store, "bad")
    service.dispatcher.tell(Wake())
    # When it has run three times
    calls.wait(3)
    flush_workers()
    # Then it is dead with its error kept, and the workers still run other tasks
    task = store.get_task(bad)
    assert (task["status"], task["attempts"]) == ("dead", 3)
    assert task["error"] == "ValueError: no good"
    assert "task failed" in caplog.text
    [good] = enqueue(store, "good")
    service.dispatcher.tell(Wake())
    good_ran.wait(1)
    flush_workers()
    assert store.get_task(good)["status"] == "completed"
    assert len(pykka.ActorRegistry.get_by_class(Worker)) == 2
    assert "worker restarted" not in caplog.text


def test_a_crashed_worker_is_restarted_and_its_tasks_requeued(store, caplog):
    # Given an action that kills its worker the first time only
    caplog.set_level(logging.INFO, logger="taskqueue")
    first = threading.Event()
    done = Latch()

    def crashes_once(data):
        if not first.is_set():
            first.set()
            raise Crash("out of the worker")
        done.hit(data["n"])
        return {"n": data["n"]}

    registry = registry_with(flaky=crashes_once)
    # One worker, so the tasks prefetched behind the crash sit in the dead worker's inbox
    supervisor, service = boot(store, registry, workers=1)
    ids = enqueue(store, "flaky", 5)
    service.dispatcher.tell(Wake())
    # When every task has finished
    done.wait(5)
    flush_workers()
    # Then the crashed attempt counted, the other four ran once, and nothing was lost
    tasks = [store.get_task(i) for i in ids]
    assert [t["status"] for t in tasks] == ["completed"] * 5
    assert sorted(t["attempts"] for t in tasks) == [1, 1, 1, 1, 2]
    assert "worker restarted" in caplog.text
    assert len(pykka.ActorRegistry.get_by_class(Worker)) == 1  # replaced, not lost


def test_a_task_that_always_kills_its_worker_ends_dead_and_others_keep_flowing(store):
    ok = Latch()

    def poison(data):
        raise Crash("poison")

    registry = registry_with(poison=poison, fine=lambda data: ok.hit() or {})
    supervisor, service = boot(store, registry, max_attempts=3)
    [poisoned] = enqueue(store, "poison")
    fine = enqueue(store, "fine", 20)
    service.dispatcher.tell(Wake())
    ok.wait(20)
    # The poisoned task needs three crashes; wait for its final state through the workers
    last: dict = {}

    def poisoned_dead() -> bool:
        service.rescuer.ask(Tick(time.time()))  # a barrier: the rescuer's round is done
        flush_workers()
        last.update(store.get_task(poisoned))
        return last["status"] == "dead"

    wait_for(
        poisoned_dead,
        WAIT_SECONDS,
        lambda: (
            f"the poisoned task to be dead; last: {last['status']}, {last['attempts']} attempts"
        ),
    )
    flush_workers()
    task = store.get_task(poisoned)
    assert (task["status"], task["attempts"]) == ("dead", 3)
    assert task["error"].startswith("worker crashed: WorkerCrashed: Crash: poison")
    assert all(store.get_task(i)["status"] == "completed" for i in fine)
    assert len(pykka.ActorRegistry.get_by_class(Worker)) == 2  # each crash replaced


def test_boot_recovers_tasks_left_running_by_a_dead_process(store):
    # Given tasks claimed by a process on this host that no longer exists,
    # and one claimed by a live process elsewhere
    dead_pid = a_dead_pid()
    orphaned = enqueue(store, "job", 3)
    store.claim(f"{socket.gethostname()}:{dead_pid}", "old", 3, time.time(), 30)
    [elsewhere] = enqueue(store, "job")
    store.claim("other-host:1", "other", 1, time.time(), 30)
    ran = Latch()
    registry = registry_with(job=lambda data: ran.hit() or {})
    # When the supervisor boots
    supervisor, service = boot(store, registry)
    ran.wait(3)
    flush_workers()
    # Then the dead process's tasks ran again, their interrupted attempt counted
    assert [(store.get_task(i)["status"], store.get_task(i)["attempts"]) for i in orphaned] == [
        ("completed", 2)
    ] * 3
    # And the live lease elsewhere was left alone until it expires
    assert store.get_task(elsewhere)["status"] == "running"
    service.rescuer.ask(Tick(time.time() + 31))
    ran.wait(4)
    flush_workers()
    assert store.get_task(elsewhere)["status"] == "completed"


def test_leases_of_running_tasks_are_renewed(store):
    slow = BlockingAction()
    supervisor, service = boot(store, registry_with(slow=slow), lease_seconds=30)
    [task_id] = enqueue(store, "slow")
    service.dispatcher.tell(Wake())
    slow.started.wait(1)
    before = models.Task.get_by_id(task_id).lease_expires_at
    later = time.time() + 20
    service.dispatcher.tell(Poll(later))
    service.dispatcher.ask(Wake())  # barrier: the Poll before it has been handled
    after = models.Task.get_by_id(task_id).lease_expires_at
    assert after == pytest.approx(later + 30, abs=0.01)
    assert after > before
    slow.release()


def test_shutdown_lets_running_tasks_finish_and_releases_the_rest(store):
    gate = threading.Event()
    started = Latch()

    def slow(data):
        started.hit()
        gate.wait(WAIT_SECONDS)
        return {"n": data["n"]}

    stopping = threading.Event()
    supervisor = Supervisor.start(
        config(workers=1, prefetch=5),
        registry_with(slow=slow),
        store,
        start_ticker=False,
        stopping=stopping,
    )
    service = supervisor.ask(Boot(), timeout=WAIT_SECONDS)
    ids = enqueue(store, "slow", 5)
    service.dispatcher.tell(Wake())
    started.wait(1)
    # When a shutdown starts while the first task runs, and that task then finishes
    shutdown = supervisor.ask(Shutdown(WAIT_SECONDS), block=False)
    assert stopping.wait(WAIT_SECONDS)
    gate.set()
    shutdown.get(timeout=WAIT_SECONDS)
    # Then it completed, and the four never started are queued with no attempt used
    tasks = [store.get_task(i) for i in ids]
    assert (tasks[0]["status"], tasks[0]["attempts"]) == ("completed", 1)
    assert [(t["status"], t["attempts"]) for t in tasks[1:]] == [("queued", 0)] * 4


def test_a_failed_migration_stops_boot_with_the_reason(tmp_path):
    store = models.open_store(f"sqlite:///{tmp_path}/broken.db")
    store.db.execute_sql("CREATE TABLE tasks (something_else TEXT)")  # in the way of migration 1
    supervisor = Supervisor.start(config(), registry_with(), store, start_ticker=False)
    with pytest.raises(models.MigrationError, match="already exists"):
        supervisor.ask(Boot(), timeout=WAIT_SECONDS)
    assert pykka.ActorRegistry.get_by_class(Worker) == []
    store.close()


class _Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("cannot print this")


def test_failures_that_cannot_be_printed_or_stored_as_is_still_end_dead(store, caplog):
    # Given actions whose errors raise when printed, or quote U+0000 (PostgreSQL refuses it)
    calls = Latch()

    def unprintable(data):
        calls.hit()
        raise _Unprintable()

    def quotes_nul(data):
        calls.hit()
        raise ValueError("bad input a\x00b")

    registry = registry_with(unprintable=unprintable, quotes_nul=quotes_nul)
    supervisor, service = boot(store, registry, max_attempts=2)
    [first] = enqueue(store, "unprintable")
    [second] = enqueue(store, "quotes_nul")
    service.dispatcher.tell(Wake())
    calls.wait(4)
    flush_workers()
    # Then both are dead with a readable error, and no worker died on the way
    assert (store.get_task(first)["status"], store.get_task(first)["error"]) == (
        "dead",
        "_Unprintable: <exception text unavailable>",
    )
    assert (store.get_task(second)["status"], store.get_task(second)["error"]) == (
        "dead",
        "ValueError: bad input a\\x00b",
    )
    assert len(pykka.ActorRegistry.get_by_class(Worker)) == 2
    assert "worker restarted" not in caplog.text


def test_shutdown_gives_back_what_a_busy_worker_never_started(store):
    # Given one worker stuck in a long task with four more prefetched behind it
    slow = BlockingAction()
    supervisor, service = boot(store, registry_with(slow=slow), workers=1, prefetch=5)
    ids = enqueue(store, "slow", 5)
    service.dispatcher.tell(Wake())
    slow.started.wait(1)
    try:
        # When a shutdown's deadline passes while that task still runs
        supervisor.ask(Shutdown(0.2), timeout=WAIT_SECONDS)
        # Then the running task stays running (it runs again at the next start), and the
        # four it never started are queued again with their attempt refunded
        tasks = [store.get_task(i) for i in ids]
        assert (tasks[0]["status"], tasks[0]["attempts"]) == ("running", 1)
        assert [(t["status"], t["attempts"]) for t in tasks[1:]] == [("queued", 0)] * 4
    finally:
        slow.release()
