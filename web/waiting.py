"""Waiting for a task to finish, without letting waiters take every request thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import models
from actors import FinishedBoard

RECHECK_SECONDS = 1.0  # a waiter looks again this often: a finish heard from nowhere is seen


class Waiters:
    """At most ``limit`` requests wait at once; the others answer at once instead.

    A waiter is woken by the finished board (this process's completions, and
    on PostgreSQL every node's, through LISTEN/NOTIFY), and looks at the task
    again at least every ``RECHECK_SECONDS`` in case nothing told it (another
    process on the same SQLite file).
    """

    def __init__(self, board: FinishedBoard, limit: int) -> None:
        self._board = board
        self._slots = threading.BoundedSemaphore(limit) if limit > 0 else None

    def wait(
        self, task_id: str, seconds: float, read: Callable[[], dict[str, Any]]
    ) -> tuple[dict[str, Any], bool]:
        """The task once it is finished or ``seconds`` passed, and whether it could wait
        at all (False: too many wait already; the task is returned as it is now)."""
        task = read()
        if seconds <= 0 or task["status"] in models.FINISHED:
            return task, True
        if self._slots is None or not self._slots.acquire(blocking=False):
            return task, False
        try:
            finished = self._board.watch(task_id)
            try:
                deadline = time.monotonic() + seconds
                while True:
                    task = read()  # after watching: a finish from now on is not missed
                    remaining = deadline - time.monotonic()
                    if task["status"] in models.FINISHED or remaining <= 0:
                        return task, True
                    finished.wait(min(remaining, RECHECK_SECONDS))
                    finished.clear()
            finally:
                self._board.unwatch(task_id, finished)
        finally:
            self._slots.release()
