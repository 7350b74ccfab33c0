"""Group commit for accepted tasks.

Request threads hand their rows to one writer thread and wait. The writer
takes everything that queued up while the previous commit ran and inserts it
in one transaction, then releases the waiters. A 202 is sent only after that
commit returned, so an accepted task is a stored task, while many concurrent
requests share one fsync. One writer also means request threads never
contend for SQLite's write lock.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from .database import StorageError, discard_connection
from .errors import Unavailable
from .task import count_backlog, enqueue

logger = logging.getLogger(__name__)

MAX_BATCH_ROWS = 2000
ACCEPT_TIMEOUT_SECONDS = 10.0  # longer than the SQLite busy timeout, so the commit fails first
BACKLOG_RECOUNT_SECONDS = 0.5  # how stale the backlog count behind --max-queued may get
QUEUE_FULL_RETRY_AFTER_SECONDS = 1


class _Pending:
    __slots__ = ("rows", "done", "error")

    def __init__(self, rows: Sequence[dict[str, Any]]) -> None:
        self.rows = rows
        self.done = threading.Event()
        self.error: BaseException | None = None


class Intake:
    """Commits accepted tasks in groups; ``accept`` returns once they are on disk."""

    def __init__(
        self,
        max_batch_rows: int = MAX_BATCH_ROWS,
        accept_timeout_seconds: float = ACCEPT_TIMEOUT_SECONDS,
        max_queued: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``max_queued`` caps the backlog (queued + retrying): beyond it,
        ``accept`` refuses with ``Unavailable`` instead of storing. ``clock``
        times the backlog recount (tests pass their own)."""
        self._max_queued = max_queued
        self._clock = clock
        self.commits = 0  # transactions committed so far: fewer than accepts under load
        self._backlog_lock = threading.Lock()
        self._backlog = 0
        self._backlog_counted_at = float("-inf")
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._max_batch_rows = max_batch_rows
        self._accept_timeout_seconds = accept_timeout_seconds
        self._thread = threading.Thread(target=self._run, name="intake", daemon=True)
        self._thread.start()

    def accept(self, rows: Sequence[dict[str, Any]]) -> None:
        """Store ``rows`` as queued tasks; block until committed.

        Called from request threads. Raises ``Unavailable`` when the database
        refused the write or did not finish it within the accept timeout; the
        rows were then not acknowledged (a commit that lands after the
        timeout makes the task run even though the client saw a 503, which is
        at-least-once from the client's side).
        """
        if self._max_queued is not None:
            self._reserve_backlog(len(rows))
        pending = _Pending(rows)
        self._queue.put(pending)
        if not pending.done.wait(self._accept_timeout_seconds):
            raise Unavailable("database did not accept the task in time", retry_after_seconds=2)
        if pending.error is not None:
            raise Unavailable(f"database unavailable: {pending.error}", retry_after_seconds=1)

    def _reserve_backlog(self, count: int) -> None:
        """Refuse ``count`` more tasks if the backlog would pass ``max_queued``.

        The backlog is recounted from the database at most every
        ``BACKLOG_RECOUNT_SECONDS`` (tasks drain in between); accepted tasks
        are added to the count at once, so a burst cannot overshoot the cap.
        """
        with self._backlog_lock:
            now = self._clock()
            if now - self._backlog_counted_at >= BACKLOG_RECOUNT_SECONDS:
                try:
                    self._backlog = count_backlog()
                except StorageError as exc:
                    discard_connection()
                    raise Unavailable(f"database unavailable: {exc}") from exc
                self._backlog_counted_at = now
            if self._backlog + count > self._max_queued:
                raise Unavailable(
                    f"queue full: {self._backlog} tasks waiting, the limit is {self._max_queued}",
                    retry_after_seconds=QUEUE_FULL_RETRY_AFTER_SECONDS,
                )
            self._backlog += count

    def close(self) -> None:
        """Commit what is queued, then stop the writer thread."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            size = len(first.rows)
            while size < self._max_batch_rows:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                batch.append(more)
                size += len(more.rows)
            self._commit(batch)

    def _commit(self, batch: list[_Pending]) -> None:
        rows = [row for pending in batch for row in pending.rows]
        error: BaseException | None = None
        try:
            enqueue(rows)
            self.commits += 1
        except Exception as exc:  # noqa: BLE001 - every waiter hears why; none gets a 202
            logger.warning("enqueue failed rows=%d error=%r", len(rows), exc)
            discard_connection()
            error = exc
        for pending in batch:
            pending.error = error
            pending.done.set()
