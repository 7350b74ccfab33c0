"""The messages the actors exchange. Each says who sends it and who handles it."""

from __future__ import annotations

from dataclasses import dataclass

import pykka

import models

from .attempt import Attempt, WorkerSlot


@dataclass(frozen=True)
class RunTask:
    """Dispatcher → worker: run this claimed attempt."""

    attempt: Attempt


@dataclass(frozen=True)
class Executed:
    """Worker → dispatcher, after each attempt: how it ended. Its slot is free again;
    the dispatcher commits the outcome (with others, within ``MAX_COMMIT_DELAY``)."""

    worker_index: int
    outcome: models.Outcome


@dataclass(frozen=True)
class Flush:
    """Anyone → worker or dispatcher (ask): a worker replies once all earlier messages
    ran; the dispatcher commits every outcome it holds first."""


@dataclass(frozen=True)
class CommitDue:
    """The dispatcher's alarm → dispatcher: the oldest outcome pending has waited
    ``MAX_COMMIT_DELAY_SECONDS``."""


@dataclass(frozen=True)
class Wake:
    """Web handler, listener, upkeep or supervisor → dispatcher: new tasks may be due.

    ``now`` defaults to the time the dispatcher handles it, not when it was
    sent, so work made due just before (a retry with no backoff) is seen.
    ``queues`` names queues the sender just put tasks in, which the
    dispatcher may not know of yet.
    """

    now: float | None = None
    queues: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Claimed:
    """Intake → dispatcher: tasks claimed for this node in the transaction that stored
    them, since its workers were idle (``StartAtOnce``). The dispatcher hands them out
    as if it had claimed them, or gives them back once it no longer claims."""

    tasks: tuple[models.ClaimedTask, ...]


@dataclass(frozen=True)
class Poll:
    """Ticker → dispatcher: renew leases, hear cancels and pauses, time out attempts,
    claim due tasks, as of ``now``."""

    now: float


@dataclass(frozen=True)
class Tick:
    """Ticker → a maintenance service: do one round of upkeep as of ``now``."""

    now: float


@dataclass(frozen=True)
class CancelRequested:
    """Web handler → dispatcher: these running tasks were asked to cancel."""

    task_ids: tuple[str, ...]


@dataclass(frozen=True)
class QueuesChanged:
    """Web handler → dispatcher: a queue was paused or resumed; read the queues again."""


@dataclass(frozen=True)
class AttachWorker:
    """Supervisor → dispatcher: ``ref`` (sharing ``slot``) now fills slot ``worker_index``.

    When it replaces a dead worker, ``crashed`` is the attempt that was
    running when it died (counted as a failed attempt) and every other task
    the dead worker held goes back to the queue. It claims nothing by
    itself: the sender tells ``Wake`` once its workers are attached, so a
    backlog is spread round-robin rather than poured into the first worker.
    """

    worker_index: int
    ref: pykka.ActorRef
    slot: WorkerSlot
    crashed: Attempt | None = None
    error: str = ""
    traceback: str | None = None


@dataclass(frozen=True)
class ReplaceWorker:
    """Dispatcher → supervisor: the worker in ``worker_index`` (``ref``) ran an attempt past
    its timeout; the dispatcher already settled its tasks. Abandon it, start another."""

    worker_index: int
    ref: pykka.ActorRef
    reason: str


@dataclass(frozen=True)
class StopClaiming:
    """Supervisor → dispatcher (ask): claim nothing more; used at shutdown."""


@dataclass(frozen=True)
class ReleaseUnstarted:
    """Supervisor → dispatcher (ask), at shutdown: a worker is still busy with
    ``running_id``; give back every other task it holds, which it never started."""

    worker_index: int
    running_id: str | None


@dataclass(frozen=True)
class HeldCounts:
    """Anyone → dispatcher (ask): how many unfinished tasks each worker holds."""


@dataclass(frozen=True)
class Boot:
    """run.py → supervisor (ask): migrate, recover, start the workers and the upkeep."""


@dataclass(frozen=True)
class WorkerDied:
    """Worker (from ``on_failure``) → supervisor: restart slot ``worker_index``."""

    worker_index: int
    ref: pykka.ActorRef  # the worker that died; a stale report for a replaced one is ignored
    running: Attempt | None
    error: str
    traceback: str | None = None


@dataclass(frozen=True)
class AbandonedThreads:
    """Anyone → supervisor (ask): how many abandoned workers' threads are still alive."""


@dataclass(frozen=True)
class CheckWorkers:
    """Ticker → supervisor: replace any worker found dead without having reported."""


@dataclass(frozen=True)
class Shutdown:
    """run.py → supervisor (ask): stop claiming, let running tasks finish, stop the actors."""

    timeout_seconds: float
