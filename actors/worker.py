"""The worker actor: runs the attempts the dispatcher hands it, one at a time."""

from __future__ import annotations

import logging
import threading
import time

import orjson
import pykka

import models
from models import clock

from .actions import ActionRegistry, Permanent
from .attempt import Attempt, WorkerSlot
from .config import QueueConfig, UnknownActions
from .context import TaskContext
from .failures import describe, failure_of
from .log import log_event
from .messages import Executed, Flush, RunTask, WorkerDied

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


class ResultTooLarge(Exception):
    """An action returned more than ``--max-result-bytes`` of JSON: a failed attempt,
    retried like any other, so that no stored row and no listing grows without bound."""


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

    After each attempt it tells the dispatcher ``Executed`` with the
    outcome at once: the dispatcher commits outcomes in groups, so a fast
    task never waits behind a slow one for its commit. An attempt whose
    task was canceled, or that arrives once ``stopping`` is set, is not
    started: it goes back as unstarted.

    An action that raises an ``Exception`` is a failed attempt (``Permanent``
    a final one); the worker goes on. A ``BaseException`` from an action
    kills the worker: ``on_failure`` tells the supervisor, which starts a
    replacement and has the dispatcher count that attempt and take back
    every other task this worker held. When the supervisor abandons the
    worker (an attempt ran past its timeout; the dispatcher settled it
    already), the worker throws away whatever that attempt returns and
    stops, running nothing more.
    """

    use_daemon_thread = True

    def __init__(
        self,
        slot: WorkerSlot,
        config: QueueConfig,
        store: models.Store,
        registry: ActionRegistry,
        dispatcher: pykka.ActorRef,
        supervisor: pykka.ActorRef | None,
        stopping: threading.Event,
        warned_unknown: set[str] | None = None,
    ) -> None:
        """``slot`` is shared with the dispatcher and the supervisor (see ``WorkerSlot``);
        ``warned_unknown`` with the other workers, so that an unknown action name is
        warned about once."""
        super().__init__()
        self.index = slot.index
        self._slot = slot
        self._config = config
        self._store = store
        self._registry = registry
        self._dispatcher = dispatcher
        self._supervisor = supervisor
        self._stopping = stopping
        self._warned_unknown = set() if warned_unknown is None else warned_unknown
        self._running: Attempt | None = None

    def on_start(self) -> None:
        """Runs in the worker's own thread, first: the slot learns which thread it is."""
        self._slot.thread = threading.current_thread()

    def on_receive(self, message: object) -> object:
        """Runs in the worker's thread, one message at a time."""
        match message:
            case RunTask(attempt=attempt):
                if self._slot.abandoned.is_set():
                    return None  # the dispatcher gave this task back already
                if self._stopping.is_set() or attempt.cancel_asked():
                    outcome = models.Outcome(attempt.task, models.Ending.UNSTARTED)
                else:
                    outcome = self._run(attempt)
                if self._slot.abandoned.is_set():
                    log_event(
                        "late outcome discarded",
                        logging.WARNING,
                        task_id=attempt.id,
                        worker=self.index,
                        ending=outcome.ending,
                    )
                    self.actor_ref.stop(block=False)
                    return None
                self._dispatcher.tell(Executed(self.index, outcome))
            case Flush():
                pass  # replying is the point: every earlier message has run
        return None

    def _run(self, attempt: Attempt) -> models.Outcome:
        task = attempt.task
        action = self._registry.lookup(task.action)
        if action is None:
            if self._config.unknown_actions == UnknownActions.REJECT:
                failure = models.Failure(f"unknown action {task.action!r}")
                return models.Outcome(task, models.Ending.FAILED, failure=failure, permanent=True)
            self._warn_unknown(task.action)
            action = self._registry.fallback
        log_event(
            "processing task",
            task_id=task.id,
            action=task.action,
            attempt=task.attempts,
            worker=self.index,
        )
        started_wall = clock.now()
        started = time.perf_counter()
        self._running = attempt
        self._slot.start(attempt, started_wall)
        try:
            if action.builtin and self._config.simulated_work_seconds > 0:
                time.sleep(self._config.simulated_work_seconds)
            if action.takes_context:
                deadline = None
                if task.timeout_seconds is not None:
                    deadline = started_wall + task.timeout_seconds
                context = TaskContext(task, deadline, attempt.cancelled, self._store.set_progress)
                result = action.function(task.data, context)
            else:
                result = action.function(task.data)
            encoded = orjson.dumps(result)
            if len(encoded) > self._config.max_result_bytes:
                raise ResultTooLarge(
                    f"the result is {len(encoded)} bytes as JSON, over the limit of "
                    f"{self._config.max_result_bytes} (--max-result-bytes)"
                )
            result_json = encoded.decode()
        except Exception as exc:  # noqa: BLE001 - any error of an action is a failed attempt
            self._running = None  # reported as an outcome: a later crash is not about it
            failure = failure_of(exc, skip_frames=_OWN_FRAMES)
            log_event(
                "task failed",
                logging.WARNING,
                task_id=task.id,
                action=task.action,
                attempt=task.attempts,
                error=failure.error,
                duration_ms=(time.perf_counter() - started) * 1000,
            )
            return models.Outcome(
                task,
                models.Ending.FAILED,
                failure=failure,
                permanent=isinstance(exc, Permanent),
                started_at=started_wall,
                finished_at=clock.now(),
            )
        except BaseException as exc:  # self._running stays set: on_failure reports it
            crash = failure_of(exc, skip_frames=_OWN_FRAMES)
            raise WorkerCrashed(crash.error, crash.traceback) from exc
        finally:
            self._slot.finish()
        self._running = None
        log_event(
            "task completed",
            task_id=task.id,
            action=task.action,
            attempt=task.attempts,
            duration_ms=(time.perf_counter() - started) * 1000,
        )
        return models.Outcome(
            task,
            models.Ending.COMPLETED,
            result_json=result_json,
            started_at=started_wall,
            finished_at=clock.now(),
        )

    def _warn_unknown(self, name: str) -> None:
        if name in self._warned_unknown:
            return
        self._warned_unknown.add(name)
        log_event(
            "unknown action: running the reference's catch-all",
            logging.WARNING,
            action=name,
            known=",".join(self._registry.names()),
        )

    def on_failure(self, exception_type, exception_value, traceback) -> None:
        """Runs in the worker's thread after an exception escaped ``on_receive``.

        Pykka has already marked this actor stopped; messages left in its
        inbox are dropped, and the dispatcher takes those tasks back when
        the supervisor attaches the replacement this asks for.
        """
        if self._supervisor is not None:
            self._supervisor.tell(
                WorkerDied(
                    self.index,
                    self.actor_ref,
                    self._running,
                    describe(exception_value),
                    getattr(exception_value, "traceback", None),
                )
            )
        self._store.close()

    def on_stop(self) -> None:
        """Runs in the worker's thread when it is stopped: closes its connection."""
        self._store.close()
