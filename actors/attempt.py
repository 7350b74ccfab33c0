"""An attempt in this process's hands, and what a worker shares of what it is doing."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import models


@dataclass(eq=False)
class Attempt:
    """A claimed task on its way through a worker.

    ``cancelled`` is the event the action's context exposes: the dispatcher
    sets it when the task's cancel is asked or its attempt times out.
    """

    task: models.ClaimedTask
    cancelled: threading.Event = field(default_factory=threading.Event)

    @property
    def id(self) -> str:
        return self.task.id


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
