"""The worker actor: runs the attempts the dispatcher hands it and persists each outcome."""

from __future__ import annotations

import logging
import threading
import time

import orjson
import pykka

import models

from .actions import ActionRegistry
from .config import MAX_FLUSH_BATCH, QueueConfig
from .log import log_event
from .messages import Flush, RunTask, TasksFinished, WorkerDied


class WorkerCrashed(Exception):
    """An action raised a ``BaseException``; the worker dies and is replaced.

    Pykka stops *every* actor when a ``BaseException`` escapes one, so the
    worker turns it into this ordinary exception, which stops only itself.
    """


class Worker(pykka.ThreadingActor):
    """Runs one attempt at a time, in the order the dispatcher sent them.

    Thread: each worker has its own daemon thread, so a task that never
    returns cannot keep the process from exiting at shutdown.

    An action that raises an ``Exception`` is a failed attempt: it is recorded
    (``retrying`` or ``dead``) and the worker goes on. Anything else that
    escapes, whether a ``BaseException`` from an action or a database error
    while persisting, kills the worker: ``on_failure`` tells the supervisor,
    which starts a replacement and has the dispatcher take back every task
    this worker held.

    Completions are committed in batches: after a task, the worker commits
    when its inbox is empty or ``MAX_FLUSH_BATCH`` results wait. A crash
    before that commit leaves the tasks ``running`` under this process's
    lease, so they run again (at-least-once); nothing is lost.
    """

    use_daemon_thread = True

    def __init__(
        self,
        index: int,
        config: QueueConfig,
        registry: ActionRegistry,
        dispatcher: pykka.ActorRef,
        supervisor: pykka.ActorRef | None,
        stopping: threading.Event,
    ) -> None:
        super().__init__()
        self.index = index
        self._config = config
        self._registry = registry
        self._dispatcher = dispatcher
        self._supervisor = supervisor
        self._stopping = stopping
        self._running: models.ClaimedTask | None = None
        self._completed: list[tuple[models.ClaimedTask, str]] = []  # with result JSON
        self._settled: list[str] = []  # failed attempts, already committed
        self._unstarted: list[models.ClaimedTask] = []  # skipped because we are stopping

    def on_receive(self, message: object) -> object:
        """Runs in the worker's thread, one message at a time."""
        match message:
            case RunTask(task=task):
                if self._stopping.is_set():
                    self._unstarted.append(task)
                else:
                    self._run(task)
                if self.actor_inbox.empty() or len(self._completed) >= MAX_FLUSH_BATCH:
                    self._flush()
            case Flush():
                self._flush()
        return None

    def _run(self, task: models.ClaimedTask) -> None:
        action = self._registry.lookup(task.action)
        log_event("processing task", task_id=task.id, action=task.action, attempt=task.attempts,
                  worker=self.index)
        started = time.perf_counter()
        self._running = task
        try:
            if action.builtin and self._config.simulated_work_seconds > 0:
                time.sleep(self._config.simulated_work_seconds)
            result_json = orjson.dumps(action.function(task.data)).decode()
        except Exception as exc:
            self._running = None
            self._record_failure(task, f"{type(exc).__name__}: {exc}", started)
            return
        except BaseException as exc:
            raise WorkerCrashed(f"{type(exc).__name__}: {exc}") from exc
        self._running = None
        self._completed.append((task, result_json))
        log_event("task completed", task_id=task.id, action=task.action, attempt=task.attempts,
                  duration_ms=(time.perf_counter() - started) * 1000)

    def _record_failure(self, task: models.ClaimedTask, error: str, started: float) -> None:
        status = models.fail(
            task, error, time.time(), self._config.max_attempts, self._config.retry_backoff_seconds
        )
        self._settled.append(task.id)
        log_event("task failed", logging.WARNING, task_id=task.id, action=task.action,
                  attempt=task.attempts, status=status or "lease lost", error=error,
                  duration_ms=(time.perf_counter() - started) * 1000)

    def _flush(self) -> None:
        if self._completed:
            models.complete_many(self._completed, time.time())
        if self._unstarted:
            models.release(self._unstarted)
        finished = (
            *self._settled,
            *(task.id for task, _ in self._completed),
            *(task.id for task in self._unstarted),
        )
        self._completed, self._settled, self._unstarted = [], [], []
        if finished:
            self._dispatcher.tell(TasksFinished(self.index, finished))

    def on_failure(self, exception_type, exception_value, traceback) -> None:
        """Runs in the worker's thread after an exception escaped ``on_receive``.

        Commits what it can (best effort: the database may be the reason we
        died), then asks the supervisor for a replacement. Pykka has already
        marked this actor stopped; messages left in its inbox are dropped, and
        the dispatcher takes those tasks back.
        """
        try:
            self._flush()
        except Exception:  # noqa: BLE001 - the replacement path below must still run
            pass
        if self._supervisor is not None:
            self._supervisor.tell(WorkerDied(
                self.index, self.actor_ref, self._running,
                f"{exception_type.__name__}: {exception_value}",
            ))
