"""Group commit for accepted tasks.

Request threads hand their rows to one writer thread and wait. The writer
takes everything that queued up while the previous commit ran and inserts it
in one transaction, then releases the waiters. ``accept`` returns only after
that commit, so an accepted task is a stored task, while many concurrent
requests share one fsync. One writer also means request threads never
contend for SQLite's write lock.

A request whose rows the database refuses (a constraint, a value it cannot
hold) fails alone: the group is then committed again with each request in
a savepoint of its own, and only the refused one hears why. Only a database
that cannot take writes at all fails the whole group.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from peewee import DataError, IntegrityError

from .errors import Unavailable
from .statuses import Status
from .store import ClaimRequest, StorageError, Store
from .task import ClaimedTask

logger = logging.getLogger(__name__)

QUEUED = Status.QUEUED.value
MAX_BATCH_ROWS = 2000
ACCEPT_TIMEOUT_SECONDS = 10.0  # longer than the SQLite busy timeout, so the commit fails first
BACKLOG_RECOUNT_SECONDS = 0.5  # how stale the backlog count behind --max-queued may get
QUEUE_FULL_RETRY_SECONDS = 1
TIMED_OUT_RETRY_SECONDS = 2


@dataclass(frozen=True)
class IntakeConfig:
    max_queued: int | None = None  # cap on the backlog (queued + retrying); None: no cap
    max_batch_rows: int = MAX_BATCH_ROWS
    accept_timeout_seconds: float = ACCEPT_TIMEOUT_SECONDS


class _Pending:
    __slots__ = ("rows", "done", "error", "started")

    def __init__(self, rows: Sequence[dict[str, Any]]) -> None:
        self.rows = rows
        self.done = threading.Event()
        self.error: Exception | None = None
        self.started = False  # every row was claimed for this process's workers


class StartHere(Protocol):
    """How the intake starts new tasks on this process's idle workers (see ``Intake``):
    ``claim_for(count, queues)`` is the claim to make with them, or None when they
    cannot all start at once; ``hand_over(tasks)`` gives what was claimed to the
    dispatcher. Both are called from the intake's thread."""

    def claim_for(self, count: int, queues: set[str]) -> ClaimRequest | None: ...

    def hand_over(self, tasks: list[ClaimedTask]) -> None: ...


class Intake:
    """Commits accepted tasks in groups; ``accept`` returns once they are on disk."""

    def __init__(
        self,
        store: Store,
        config: IntakeConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
        tell_here: bool = True,
        start_here: StartHere | None = None,
    ) -> None:
        """``clock`` times the backlog recount behind ``max_queued`` (tests pass their own).
        ``tell_here`` False: whoever calls ``accept`` wakes this process's dispatcher
        itself, so the store's own listener need not (see ``Store.enqueue``), unless
        ``accept`` says the rows were started here. Then ``start_here`` is asked, before
        each commit of tasks all due now, for a claim to make in the same transaction;
        the tasks it claims are handed over at once, and the other processes are told
        only of rows it left."""
        self._store = store
        self._tell_here = tell_here
        self._start_here = start_here if not tell_here else None
        self._config = config or IntakeConfig()
        self._clock = clock
        self.commits = 0  # transactions committed so far: fewer than accepts under load
        self._files_problem: str | None = None  # the last one found, for its log line
        self._backlog_lock = threading.Lock()
        self._backlog = 0
        self._backlog_counted_at = float("-inf")
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="intake", daemon=True)
        self._thread.start()

    def accept(self, rows: Sequence[dict[str, Any]]) -> bool:
        """Store ``rows`` as queued tasks; block until committed. True when every row was
        also claimed, in that commit, for this process's idle workers (``start_here``):
        nobody need be woken for them.

        Called from request threads. Raises ``Unavailable`` when the database
        refused the write or did not finish it within the accept timeout; the
        rows were then not acknowledged (a commit that lands after the
        timeout makes the task run even though its caller heard of a
        failure, which is at-least-once from the caller's side). Raises
        ``Conflict`` or ``InvalidInput`` when the database refused these rows
        themselves; nothing of them was stored.
        """
        if self._config.max_queued is not None:
            self._reserve_backlog(len(rows))
        pending = _Pending(rows)
        self._queue.put(pending)
        if not pending.done.wait(self._config.accept_timeout_seconds):
            raise Unavailable(
                "database did not accept the task in time", retry_in_seconds=TIMED_OUT_RETRY_SECONDS
            )
        if isinstance(pending.error, StorageError):
            raise self._store.unavailable(pending.error) from pending.error
        if pending.error is not None:
            raise pending.error
        return pending.started

    def _reserve_backlog(self, count: int) -> None:
        """Refuse ``count`` more tasks if the backlog would pass ``max_queued``.

        The backlog is recounted from the database at most every
        ``BACKLOG_RECOUNT_SECONDS`` (tasks drain in between); accepted tasks
        are added to the count at once, so a burst cannot overshoot the cap.
        """
        limit = self._config.max_queued
        with self._backlog_lock:
            now = self._clock()
            if now - self._backlog_counted_at >= BACKLOG_RECOUNT_SECONDS:
                try:
                    self._backlog = self._store.count_backlog()
                except StorageError as exc:
                    self._store.discard_connection()
                    raise self._store.unavailable(exc) from exc
                self._backlog_counted_at = now
            if self._backlog + count > limit:
                raise Unavailable(
                    f"queue full: {self._backlog} tasks waiting, the limit is {limit}",
                    retry_in_seconds=QUEUE_FULL_RETRY_SECONDS,
                )
            self._backlog += count

    def close(self) -> None:
        """Commit what is queued, then stop the writer thread and close its connection."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        try:
            stopping = False
            while not stopping:
                first = self._queue.get()
                if first is None:
                    break
                batch = [first]
                size = len(first.rows)
                while size < self._config.max_batch_rows:
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
        finally:
            self._store.close()

    def _commit(self, batch: list[_Pending]) -> None:
        errors: list[Exception | None]
        claimed: list[ClaimedTask] = []
        try:
            self._refuse_if_files_wrong()
            rows = [row for pending in batch for row in pending.rows]
            claim = self._claim_for(rows)
            claimed = self._store.enqueue(rows, tell_here=self._tell_here, claim=claim)
            errors = [None] * len(batch)
        except (IntegrityError, DataError):
            # Some request's rows are refused: commit the others, refuse only those
            # (claimed for by the dispatcher, which their handlers wake).
            errors = self._commit_each(batch)
        except Unavailable as exc:
            errors = [exc] * len(batch)
        except Exception as exc:  # noqa: BLE001 - every waiter hears why; none is accepted
            errors = [self._failed(exc, batch)] * len(batch)
        else:
            self.commits += 1
        if any(error is None for error in errors):
            try:
                self._refuse_if_files_wrong()
            except Unavailable as exc:  # committed where a crash would lose it: not a 202
                errors = [exc] * len(batch)
        if claimed:
            # Held under this process's lease: handed over even if the answer is a 503,
            # as the dispatcher would have claimed them anyway.
            self._start_here.hand_over(claimed)
            taken = {task.id for task in claimed}
            for pending in batch:
                pending.started = all(row["id"] in taken for row in pending.rows)
        for pending, error in zip(batch, errors, strict=True):
            pending.error = error
            pending.done.set()

    def _claim_for(self, rows: Sequence[dict[str, Any]]) -> ClaimRequest | None:
        """The claim to make with ``rows``: none unless every one is due now and this
        process's idle workers can start them all at once (``start_here``)."""
        if self._start_here is None or any(row["status"] != QUEUED for row in rows):
            return None
        return self._start_here.claim_for(len(rows), {row["queue"] for row in rows})

    def _refuse_if_files_wrong(self) -> None:
        """Raise ``Unavailable`` while the database's files are not the ones a restart
        would open (see ``Store.files_problem``), after saving what was committed."""
        problem = self._store.files_problem()
        if problem != self._files_problem:  # logged once per change, not per request
            self._files_problem = problem
            if problem is None:
                logger.warning("accepting new tasks again: the database's files are right")
            else:
                logger.error("refusing new tasks: %s", problem)
        if problem is None:
            return
        self._store.save_what_is_committed()
        raise Unavailable(f"database files unsafe: {problem}")

    def _commit_each(self, batch: list[_Pending]) -> list[Exception | None]:
        """The batch again, each request's rows on their own, every process told."""
        try:
            groups = [pending.rows for pending in batch]
            errors = self._store.enqueue_each(groups, tell_here=self._tell_here)
        except Exception as exc:  # noqa: BLE001 - as in _commit
            return [self._failed(exc, batch)] * len(batch)
        self.commits += 1
        return errors

    def _failed(self, exc: Exception, batch: list[_Pending]) -> Exception:
        rows = sum(len(pending.rows) for pending in batch)
        logger.warning("enqueue failed rows=%d error=%r", rows, exc)
        self._store.discard_connection()
        return exc
