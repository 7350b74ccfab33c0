"""The worker actor: runs the attempts the dispatcher hands it and persists each outcome."""

from __future__ import annotations

import logging
import threading
import time

import orjson
import pykka

import models

from .actions import ActionRegistry
from .config import MAX_FLUSH_BATCH, MAX_FLUSH_DELAY_SECONDS, PERSIST_RETRY_SECONDS, QueueConfig
from .failures import describe, failure_of
from .log import log_event
from .messages import Flush, RunTask, TasksFinished, WorkerDied

# Frames of the worker's own that a failure's traceback leaves out: ``_run``'s call.
_OWN_FRAMES = 1


class WorkerCrashed(Exception):
    """An action raised a ``BaseException``; the worker dies and is replaced.

    Pykka stops *every* actor when a ``BaseException`` escapes one, so the
    worker turns it into this ordinary exception, which stops only itself.
    """

    def __init__(self, message: str, traceback: str | None) -> None:
        super().__init__(message)
        self.traceback = traceback


class _NoCrashTracebacks(logging.Filter):
    """Pykka logs the traceback of an exception that stops an actor. A worker's
    crash is already one ``worker restarted`` line with the error, and the
    action's traceback is kept on its task: the multi-line log says nothing more."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], WorkerCrashed))


logging.getLogger("pykka").addFilter(_NoCrashTracebacks())


class Worker(pykka.ThreadingActor):
    """Runs one attempt at a time, in the order the dispatcher sent them.

    Thread: each worker has its own daemon thread, so a task that never
    returns cannot keep the process from exiting at shutdown.

    An action that raises an ``Exception`` is a failed attempt, recorded as
    ``retrying`` or ``dead``; the worker goes on. A ``BaseException`` from an
    action kills the worker: ``on_failure`` tells the supervisor, which
    starts a replacement and has the dispatcher count that attempt and take
    back every other task this worker held.

    Outcomes are committed in batches: after a task, the worker commits when
    its inbox is empty, ``MAX_FLUSH_BATCH`` outcomes wait, or the oldest has
    waited ``MAX_FLUSH_DELAY_SECONDS`` (so slow tasks commit one by one and
    fast ones share a commit), then tells the dispatcher which are settled.
    If the database refuses the commit (locked, read-only, disconnected), the
    outcomes stay pending and the worker tries again every
    ``PERSIST_RETRY_SECONDS``; meanwhile the tasks stay ``running`` under
    this process's lease. A crash before the commit
    makes them run again (at-least-once); nothing is lost.
    """

    use_daemon_thread = True

    def __init__(
        self,
        index: int,
        config: QueueConfig,
        store: models.Store,
        registry: ActionRegistry,
        dispatcher: pykka.ActorRef,
        supervisor: pykka.ActorRef | None,
        stopping: threading.Event,
        running_now: dict[int, str | None] | None = None,
    ) -> None:
        """``running_now`` is shared with the supervisor: this worker keeps its
        slot set to the id of the task it is executing (None between tasks), so
        a shutdown can tell a busy worker's running task from those queued
        behind it without waiting for the worker."""
        super().__init__()
        self.index = index
        self._running_now = {} if running_now is None else running_now
        self._config = config
        self._store = store
        self._registry = registry
        self._dispatcher = dispatcher
        self._supervisor = supervisor
        self._stopping = stopping
        self._running: models.ClaimedTask | None = None
        self._completed: list[tuple[models.ClaimedTask, str]] = []  # with result JSON
        self._failed: list[tuple[models.ClaimedTask, models.Failure]] = []
        self._unstarted: list[models.ClaimedTask] = []  # skipped because we are stopping
        self._retry_timer: threading.Timer | None = None
        self._pending_since: float | None = None  # monotonic time of the oldest uncommitted outcome

    def on_receive(self, message: object) -> object:
        """Runs in the worker's thread, one message at a time."""
        match message:
            case RunTask(task=task):
                if self._stopping.is_set():
                    self._unstarted.append(task)
                else:
                    self._run(task)
                if self._flush_due():
                    self._flush()
            case Flush():
                self._flush()
        return None

    def _run(self, task: models.ClaimedTask) -> None:
        action = self._registry.lookup(task.action)
        log_event(
            "processing task",
            task_id=task.id,
            action=task.action,
            attempt=task.attempts,
            worker=self.index,
        )
        started = time.perf_counter()
        self._running = task
        self._running_now[self.index] = task.id
        try:
            if action.builtin and self._config.simulated_work_seconds > 0:
                time.sleep(self._config.simulated_work_seconds)
            result_json = orjson.dumps(action.function(task.data)).decode()
        except Exception as exc:  # noqa: BLE001 - any error of an action is a failed attempt
            self._running = None
            self._running_now[self.index] = None
            failure = failure_of(exc, skip_frames=_OWN_FRAMES)
            self._failed.append((task, failure))
            log_event(
                "task failed",
                logging.WARNING,
                task_id=task.id,
                action=task.action,
                attempt=task.attempts,
                error=failure.error,
                duration_ms=(time.perf_counter() - started) * 1000,
            )
            return
        except BaseException as exc:  # self._running stays set: on_failure reports it
            crash = failure_of(exc, skip_frames=_OWN_FRAMES)
            raise WorkerCrashed(crash.error, crash.traceback) from exc
        self._running = None
        self._running_now[self.index] = None
        self._completed.append((task, result_json))
        log_event(
            "task completed",
            task_id=task.id,
            action=task.action,
            attempt=task.attempts,
            duration_ms=(time.perf_counter() - started) * 1000,
        )

    def _flush_due(self) -> bool:
        pending = len(self._completed) + len(self._failed)
        if pending and self._pending_since is None:
            self._pending_since = time.monotonic()
        return (
            self.actor_inbox.empty()
            or pending >= MAX_FLUSH_BATCH
            or (pending > 0 and time.monotonic() - self._pending_since >= MAX_FLUSH_DELAY_SECONDS)
        )

    def _flush(self) -> None:
        """Commit pending outcomes; on a database error keep them and retry later."""
        settled: list[str] = []
        try:
            if self._completed:
                self._store.complete_many(self._completed, time.time())
                settled += [task.id for task, _ in self._completed]
                self._completed = []
            while self._failed:
                task, failure = self._failed[0]
                status = self._store.fail(
                    task,
                    failure,
                    time.time(),
                    self._config.max_attempts,
                    self._config.retry_backoff_seconds,
                )
                if status != models.Status.RETRYING:
                    log_event(
                        "task dead" if status else "outcome discarded: claim lost",
                        logging.WARNING,
                        task_id=task.id,
                        attempt=task.attempts,
                        error=failure.error,
                    )
                settled.append(task.id)
                self._failed.pop(0)
            if self._unstarted:
                self._store.release(self._unstarted)
                settled += [task.id for task in self._unstarted]
                self._unstarted = []
            self._pending_since = None
        except models.StorageError as exc:
            self._store.discard_connection()
            log_event(
                "persist failed",
                logging.WARNING,
                worker=self.index,
                error=repr(exc),
                retry_in_s=PERSIST_RETRY_SECONDS,
            )
            self._schedule_retry()
        if settled:
            self._dispatcher.tell(TasksFinished(self.index, tuple(settled)))

    def _schedule_retry(self) -> None:
        if self._retry_timer is not None and self._retry_timer.is_alive():
            return
        self._retry_timer = threading.Timer(PERSIST_RETRY_SECONDS, self._tell_flush)
        self._retry_timer.daemon = True
        self._retry_timer.start()

    def _tell_flush(self) -> None:
        try:
            self.actor_ref.tell(Flush())
        except pykka.ActorDeadError:
            pass

    def on_failure(self, exception_type, exception_value, traceback) -> None:
        """Runs in the worker's thread after an exception escaped ``on_receive``.

        Commits what it can, then asks the supervisor for a replacement.
        Pykka has already marked this actor stopped; messages left in its
        inbox are dropped, and the dispatcher takes those tasks back.
        """
        try:
            self._flush()
        except Exception as exc:  # noqa: BLE001 - the report below must still go out
            log_event("persist failed", logging.WARNING, worker=self.index, error=repr(exc))
        crash_trace = getattr(exception_value, "traceback", None)
        if self._supervisor is not None:
            self._supervisor.tell(
                WorkerDied(
                    self.index,
                    self.actor_ref,
                    self._running,
                    describe(exception_value),
                    crash_trace,
                )
            )
        self._store.close()

    def on_stop(self) -> None:
        """Runs in the worker's thread when it is stopped: commits what it can, and
        gives back what it never started, then closes its connection."""
        try:
            self._flush()
        except Exception as exc:  # noqa: BLE001 - unreported outcomes run again; nothing is lost
            log_event("persist failed", logging.WARNING, worker=self.index, error=repr(exc))
        if self._retry_timer is not None:
            self._retry_timer.cancel()
        self._store.close()
