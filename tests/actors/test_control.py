"""Control over tasks, driven through the actors with the time a test chooses: delay and
priority, pause and resume, timeouts, cancel, retry, permanent failures, unknown actions,
the action's context."""

from __future__ import annotations

import threading
import time

import orjson
import pykka
import pytest

import models
from actors import (
    AbandonedThreads,
    ActionRegistry,
    Boot,
    CancelRequested,
    DuplicateAction,
    Flush,
    Permanent,
    Poll,
    QueueConfig,
    QueuesChanged,
    Supervisor,
    Tick,
    UnknownActions,
    Wake,
    Worker,
)
from actors.actions import Action
from tests.web.client import wait_for

from .helpers import WAIT_SECONDS, Latch, flush_workers, registry_with


def boot(store, registry, **overrides):
    settings = dict(
        workers=2,
        prefetch=5,
        simulated_work_seconds=0,
        max_attempts=3,
        retry_backoff_seconds=0,
        lease_seconds=30,
    )
    settings.update(overrides)
    supervisor = Supervisor.start(QueueConfig(**settings), registry, store, start_ticker=False)
    service = supervisor.ask(Boot(), timeout=WAIT_SECONDS)
    service.dispatcher.ask(Flush())  # the boot's own wake is handled: nothing claims by itself
    return supervisor, service


def enqueue(store, action: str, count: int = 1, **options) -> list[str]:
    options.setdefault("max_attempts", 3)
    rows = [models.new_task(action, {"n": n}, models.TaskOptions(**options)) for n in range(count)]
    store.enqueue(rows)
    return [row["id"] for row in rows]


def status(store, task_id: str) -> str:
    return store.get_task(task_id)["status"]


def test_a_delayed_task_waits_for_its_time_then_runs(store):
    ran = Latch()
    supervisor, service = boot(store, registry_with(job=lambda data: ran.hit(data["n"]) or {}))
    now = time.time()
    [later] = enqueue(store, "job", run_at=now + 60)
    [soon] = enqueue(store, "job", run_at=now + 1)
    service.dispatcher.tell(Wake())
    # When the stager runs before either is due, nothing runs
    assert service.stager.ask(Tick(now), timeout=WAIT_SECONDS) == 0
    flush_workers()
    assert (status(store, later), status(store, soon)) == ("scheduled", "scheduled")
    # When it runs once the first is due, that one runs, and only that one
    assert service.stager.ask(Tick(now + 1), timeout=WAIT_SECONDS) == 1
    ran.wait(1)
    flush_workers()
    assert (status(store, later), status(store, soon)) == ("scheduled", "completed")


def test_priority_orders_due_tasks_for_a_single_worker(store):
    order = Latch()
    gate = threading.Event()

    def job(data):
        order.hit(data["name"])
        gate.wait(WAIT_SECONDS)
        return {}

    supervisor, service = boot(store, registry_with(job=job), workers=1, prefetch=1)
    # Given tasks submitted in an order unlike their priorities (in one commit, so that
    # no claim, woken by the first, sees only some of them)
    store.enqueue(
        [
            models.new_task("job", {"name": name}, models.TaskOptions(1, priority=priority))
            for name, priority in (("low", 9), ("mid", 5), ("high", 0), ("mid2", 5))
        ]
    )
    gate.set()
    service.dispatcher.tell(Wake())
    order.wait(4)
    # Then they started by priority, then in due order
    assert order.items == ["high", "mid", "mid2", "low"]


def test_a_paused_queue_runs_nothing_until_resumed_and_others_go_on(store):
    ran = Latch()
    supervisor, service = boot(store, registry_with(job=lambda data: ran.hit(data["n"]) or {}))
    store.pause("emails", "test", time.time())
    service.dispatcher.tell(QueuesChanged())
    [paused] = enqueue(store, "job", queue="emails")
    [other] = enqueue(store, "job", queue="reports")
    service.dispatcher.tell(Wake(queues=frozenset({"emails", "reports"})))
    ran.wait(1)
    service.dispatcher.ask(Poll(time.time()))  # a whole poll: still not claimed
    flush_workers()
    assert (status(store, paused), status(store, other)) == ("queued", "completed")
    # When resumed (as another node would: the stored pause only), the next poll runs it
    store.resume("emails", "test", time.time())
    service.dispatcher.tell(Poll(time.time()))
    ran.wait(2)
    flush_workers()
    assert status(store, paused) == "completed"


def test_an_action_that_never_returns_times_out_and_the_queue_keeps_draining(store):
    hung = threading.Event()  # set at the end, to let the abandoned thread go
    started = Latch()
    ran = Latch()

    def never_returns(data):
        started.hit()
        hung.wait(60)
        return {"late": True}

    registry = registry_with(hang=never_returns, job=lambda data: ran.hit() or {})
    supervisor, service = boot(store, registry, workers=1, prefetch=3, max_attempts=2)
    try:
        [stuck] = enqueue(store, "hang", timeout_seconds=5, max_attempts=2)
        behind = enqueue(store, "job", 2)  # prefetched behind it, in the same worker
        service.dispatcher.tell(Wake())
        started.wait(1)
        # When a poll comes after its timeout
        service.dispatcher.ask(Poll(time.time() + 6))
        flush_workers()
        # Then it failed as timed out (an attempt counted), and the queue drained on
        task = store.get_task(stuck)
        assert task["error"] == "timed out after 5 s"
        assert (task["status"], task["attempts"]) in (("retrying", 1), ("running", 2))
        ran.wait(2)
        flush_workers()
        assert [status(store, i) for i in behind] == ["completed", "completed"]
        # And the stuck thread is counted as abandoned, until it returns
        assert supervisor.ask(AbandonedThreads(), timeout=WAIT_SECONDS) >= 1
        # Its second attempt (due at once, as of the poll's time) times out too: dead
        service.dispatcher.ask(Poll(time.time() + 6))
        started.wait(2)
        service.dispatcher.ask(Poll(time.time() + 12))
        flush_workers()
        task = store.get_task(stuck)
        assert (task["status"], task["attempts"], task["error"]) == (
            "dead",
            2,
            "timed out after 5 s",
        )
    finally:
        hung.set()
    # The late results of the abandoned threads are thrown away
    wait_for(
        lambda: supervisor.ask(AbandonedThreads()) == 0,
        WAIT_SECONDS,
        "the released threads to end",
    )
    assert store.get_task(stuck)["result"] is None


def test_a_queued_task_canceled_never_runs(store):
    ran = Latch()
    gate = threading.Event()

    def job(data):
        ran.hit(data["n"])
        gate.wait(WAIT_SECONDS)
        return {}

    supervisor, service = boot(store, registry_with(job=job), workers=1, prefetch=1)
    [first, second] = enqueue(store, "job", 2)
    service.dispatcher.tell(Wake())
    ran.wait(1)
    assert store.cancel(second, "test", time.time()) == models.Status.CANCELED
    gate.set()
    flush_workers()
    service.dispatcher.ask(Poll(time.time()))
    flush_workers()
    assert ran.items == [0]
    assert (status(store, first), status(store, second)) == ("completed", "canceled")


def test_a_running_task_canceled_stops_if_it_cooperates(store):
    started = Latch()
    stopped_early = Latch()

    def cooperative(data, context):
        started.hit()
        if context.cancelled.wait(WAIT_SECONDS):
            stopped_early.hit()
            raise RuntimeError("stopped: canceled")
        return {"finished": True}

    supervisor, service = boot(store, registry_with(slow=cooperative))
    [task_id] = enqueue(store, "slow")
    service.dispatcher.tell(Wake())
    started.wait(1)
    # When its cancel is asked (as the web handler does: the store, then the dispatcher)
    assert store.cancel(task_id, "test", time.time()) == models.Status.RUNNING
    service.dispatcher.tell(CancelRequested((task_id,)))
    # Then the action sees it, stops, and the task is canceled
    stopped_early.wait(1)
    flush_workers()
    task = store.get_task(task_id)
    assert (task["status"], task["cancel_requested"]) == ("canceled", False)


def test_a_cancel_heard_only_through_the_database_reaches_the_running_task(store):
    # As on another node: nothing tells the dispatcher, its poll finds it
    started = Latch()
    stopped = Latch()

    def cooperative(data, context):
        started.hit()
        if context.cancelled.wait(WAIT_SECONDS):
            stopped.hit()
        return {"stopped_early": context.cancelled.is_set()}

    supervisor, service = boot(store, registry_with(slow=cooperative))
    [task_id] = enqueue(store, "slow")
    service.dispatcher.tell(Wake())
    started.wait(1)
    store.cancel(task_id, "elsewhere", time.time())
    service.dispatcher.tell(Poll(time.time()))
    stopped.wait(1)
    flush_workers()
    # It returned a result after all: a completed attempt stays completed
    task = store.get_task(task_id)
    assert (task["status"], orjson.loads(task["result"])) == (
        "completed",
        {"stopped_early": True},
    )


def test_a_running_task_that_ignores_the_cancel_and_fails_is_canceled_not_retried(store):
    started = Latch()
    gate = threading.Event()

    def stubborn(data):
        started.hit()
        gate.wait(WAIT_SECONDS)
        raise ValueError("failed anyway")

    supervisor, service = boot(store, registry_with(stubborn=stubborn), max_attempts=5)
    [task_id] = enqueue(store, "stubborn", max_attempts=5)
    service.dispatcher.tell(Wake())
    started.wait(1)
    store.cancel(task_id, "test", time.time())
    gate.set()
    flush_workers()
    task = store.get_task(task_id)
    assert (task["status"], task["attempts"], task["error"]) == (
        "canceled",
        1,
        "ValueError: failed anyway",
    )


def test_retry_by_hand_runs_a_dead_task_again(store):
    outcomes = iter([ValueError("first"), ValueError("second"), None])
    ran = Latch()

    def flaky(data):
        ran.hit()
        error = next(outcomes)
        if error is not None:
            raise error
        return {"ok": True}

    supervisor, service = boot(store, registry_with(flaky=flaky))
    [task_id] = enqueue(store, "flaky", max_attempts=2)
    service.dispatcher.tell(Wake())
    ran.wait(2)
    flush_workers()
    assert (status(store, task_id), store.get_task(task_id)["error"]) == (
        "dead",
        "ValueError: second",
    )
    store.retry(task_id, "ops", time.time(), 3)
    service.dispatcher.tell(Wake())
    ran.wait(3)
    flush_workers()
    task = store.get_task(task_id)
    assert (task["status"], task["attempts"], task["max_attempts"]) == ("completed", 3, 4)


def test_permanent_ends_the_task_at_once(store):
    calls = Latch()

    def refuses(data):
        calls.hit()
        raise Permanent("width must be a number")

    supervisor, service = boot(store, registry_with(resize=refuses))
    [task_id] = enqueue(store, "resize", max_attempts=5)
    service.dispatcher.tell(Wake())
    calls.wait(1)
    flush_workers()
    task = store.get_task(task_id)
    assert (task["status"], task["attempts"], task["error"]) == (
        "dead",
        1,
        "Permanent: width must be a number",
    )


def test_unknown_actions_run_the_catch_all_or_end_dead(store, caplog):
    registry = ActionRegistry(Action("*", lambda data: {"output": "processed"}, source="test"))
    supervisor, service = boot(store, registry)
    [processed, again] = enqueue(store, "uppercse", 2)
    service.dispatcher.tell(Wake())
    flush_workers()
    deadline = time.monotonic() + WAIT_SECONDS
    # Both: the two run on two workers, and either may be settled first
    while {status(store, processed), status(store, again)} != {"completed"} and (
        time.monotonic() < deadline
    ):
        flush_workers()
    assert orjson.loads(store.get_task(processed)["result"]) == {"output": "processed"}
    # warned once for the name, not once per task
    assert caplog.text.count("unknown action") == 1
    supervisor.stop()
    pykka.ActorRegistry.stop_all()
    supervisor, service = boot(store, registry, unknown_actions=UnknownActions.REJECT)
    [rejected] = enqueue(store, "uppercse")
    service.dispatcher.tell(Wake())
    deadline = time.monotonic() + WAIT_SECONDS
    while status(store, rejected) != "dead" and time.monotonic() < deadline:
        flush_workers()
    task = store.get_task(rejected)
    assert (task["status"], task["attempts"], task["error"]) == (
        "dead",
        1,
        "unknown action 'uppercse'",
    )


def test_the_context_reports_progress_at_most_once_a_second(store):
    started = Latch()
    gate = threading.Event()

    def reporting(data, context):
        context.progress(0.25, "a quarter")
        context.progress(0.5, "half")  # within the second: dropped
        started.hit((context.task_id, context.attempt, context.deadline))
        gate.wait(WAIT_SECONDS)
        return {}

    supervisor, service = boot(store, registry_with(report=reporting))
    [task_id] = enqueue(store, "report", timeout_seconds=60)
    service.dispatcher.tell(Wake())
    started.wait(1)
    [(seen_id, attempt, deadline)] = started.items
    assert (seen_id, attempt) == (task_id, 1)
    assert deadline == pytest.approx(time.time() + 60, abs=5)
    progress = orjson.loads(store.get_task(task_id)["progress"])
    assert (progress["fraction"], progress["message"]) == (0.25, "a quarter")
    gate.set()
    flush_workers()


def test_a_name_taken_twice_is_refused_unless_replaced():
    registry = registry_with(job=lambda data: {})
    with pytest.raises(DuplicateAction, match="'job' is already registered"):
        registry.register("job", lambda data: {"other": True})
    registry.register("job", lambda data: {"replaced": True}, replace=True)
    assert registry.lookup("job").function({}) == {"replaced": True}
    assert registry.lookup("missing") is None


def test_every_worker_is_alive_after_all_of_that(store):
    supervisor, service = boot(store, registry_with())
    assert all(ref.is_alive() for ref in pykka.ActorRegistry.get_by_class(Worker))


def test_a_fast_task_is_committed_while_a_slow_one_runs_behind_it_in_the_same_worker(store):
    # Given one worker holding a fast task and, behind it, one that blocks
    slow_started = Latch()
    gate = threading.Event()

    def slow(data):
        slow_started.hit()
        gate.wait(WAIT_SECONDS)
        return {}

    supervisor, service = boot(
        store, registry_with(fast=lambda data: {"fast": True}, slow=slow), workers=1, prefetch=2
    )
    [fast] = enqueue(store, "fast")
    enqueue(store, "slow")
    service.dispatcher.tell(Wake())
    try:
        # When the slow one has started
        slow_started.wait(1)
        # Then the fast one is completed in the database, without any flush or poll
        wait_for(
            lambda: status(store, fast) == "completed",
            WAIT_SECONDS,
            lambda: f"the fast task to be committed; it is {status(store, fast)}",
        )
    finally:
        gate.set()
