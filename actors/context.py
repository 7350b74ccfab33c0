"""What an action may take as its second parameter: its attempt's context."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import models

from .log import log_event

PROGRESS_MIN_INTERVAL_SECONDS = 1.0  # progress is stored at most this often per attempt


class TaskContext:
    """The attempt an action is running: who it is, until when, and whether to stop.

    ``cancelled`` is set when the task is canceled or its attempt times out:
    a long action should check it (``if context.cancelled.is_set(): …``, or
    wait on it instead of sleeping) and stop early. ``progress`` reports how
    far it got; it is stored at most once a second, and shows in the task.
    """

    def __init__(
        self,
        task: models.ClaimedTask,
        deadline: float | None,
        cancelled: threading.Event,
        store_progress: Callable[[models.ClaimedTask, float | None, str | None, float], bool],
        clock: Callable[[], float] = models.clock.now,
    ) -> None:
        self.task_id = task.id
        self.attempt = task.attempts
        self.deadline = deadline  # unix seconds this attempt times out at, or None
        self.cancelled = cancelled
        self._task = task
        self._store_progress = store_progress
        self._clock = clock
        self._last_stored = float("-inf")

    def progress(self, fraction: float | None = None, message: str | None = None) -> None:
        """Report progress: ``fraction`` of the work done (0 to 1) and/or a message.

        Stored if the last store was a second ago or more, else dropped: a
        report every millisecond costs the database one write a second.
        """
        if fraction is not None:
            fraction = min(1.0, max(0.0, float(fraction)))
        if message is not None:
            message = str(message)[:1000]
        now = self._clock()
        if now - self._last_stored < PROGRESS_MIN_INTERVAL_SECONDS:
            return
        self._last_stored = now
        try:
            self._store_progress(self._task, fraction, message, now)
        except models.StorageError as exc:  # progress is a courtesy; the outcome is not
            log_event("progress not stored", logging.WARNING, task_id=self.task_id, error=repr(exc))
