"""An attempt in this process's hands, and what a worker shares of what it is doing."""

from __future__ import annotations

import threading

import models

_MAKING_EVENTS = threading.Lock()


class Attempt:
    """A claimed task on its way through a worker.

    ``cancelled`` is the event the action's context exposes: the dispatcher
    sets it when the task's cancel is asked or its attempt times out. It is
    made the first time it is asked for, by either thread (under a lock, so
    both get the same one): most attempts are never cancelled nor given a
    context, and making an event for each was about 5 % of the drain's time
    holding the GIL, in the dispatcher, its busiest thread.
    """

    __slots__ = ("task", "_cancelled")

    def __init__(self, task: models.ClaimedTask) -> None:
        self.task = task
        self._cancelled: threading.Event | None = None

    @property
    def id(self) -> str:
        return self.task.id

    @property
    def cancelled(self) -> threading.Event:
        event = self._cancelled
        if event is None:
            with _MAKING_EVENTS:
                event = self._cancelled
                if event is None:
                    event = self._cancelled = threading.Event()
        return event

    def cancel_asked(self) -> bool:
        """Whether ``cancelled`` is set, without making the event."""
        event = self._cancelled
        return event is not None and event.is_set()


class WorkerSlot:
    """What one worker is doing, shared with the dispatcher and the supervisor.

    The worker writes it (plain attribute writes, atomic in CPython); the
    others read it without asking the worker, which may be stuck in an
    action. ``abandoned`` is set when the supervisor gives up on the worker
    (its attempt timed out): whatever the worker does afterwards is thrown
    away.
    """

    def __init__(self, index: int) -> None:
        self.index = index
        self.current: Attempt | None = None
        self.started_at: float | None = None  # unix seconds the current attempt started
        self.thread: threading.Thread | None = None  # the worker's own thread, once running
        self.abandoned = threading.Event()

    def start(self, attempt: Attempt, now: float) -> None:
        self.started_at = now
        self.current = attempt

    def finish(self) -> None:
        self.current = None
        self.started_at = None

    def overdue_by(self, now: float) -> float | None:
        """Seconds past its timeout the current attempt runs as of ``now`` (unix
        seconds: a test may pass any), or None if it is within it."""
        attempt, started = self.current, self.started_at
        if attempt is None or started is None or attempt.task.timeout_seconds is None:
            return None
        overdue = now - started - attempt.task.timeout_seconds
        return overdue if overdue >= 0 else None
