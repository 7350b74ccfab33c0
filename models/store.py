"""The storage contract: every state change and every read the service makes.

A ``Store`` is the one object the actors and the web layer talk to about
tasks; ``open_store`` picks the backend from the URL. Each backend module
(``sqlite_store``, ``postgres_store``) implements what differs: the claim,
the write lock, the wake-up across processes, the leader lease, and the
column types of the migrations. Everything else is written once, here.

Each write is one transaction, and a transition is one statement (a batch,
one per row in one transaction). Finishing an attempt is fenced by its
claim: every claim writes a fresh ``claim_token``, and only the holder of
the current token can complete, fail or release that attempt, so a task
rescued from a presumed-dead process and claimed again cannot be finished
by the old holder as well.

The hot paths use hand-written SQL through Peewee's connection: the partial
indexes are matched against literal status values (``statuses.sql_list``),
and Peewee's query builder costs more per row than the commit. Peewee
builds the reads that are not hot.

Threads: any thread may call any method; each thread has its own
connection (Peewee keeps them per thread) and ``close`` closes the calling
thread's.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

import orjson
from peewee import Database, DataError, IntegrityError, PeeweeException, fn

from .backoff import retry_delay_seconds
from .errors import Conflict, InvalidInput, TaskNotFound
from .notifications import Listener
from .statuses import CLAIMABLE, STATUSES, Status, sql_list
from .task import VIEW_FIELDS, ClaimedTask, Failure, Rescued, Task, database, storable_text

# What a database call raises when the database itself is in trouble (locked,
# read-only, disconnected): callers retry later rather than crash.
StorageError = PeeweeException

INSERT_CHUNK_ROWS = 500  # well under SQLite's 32,766 bound parameters
INSERT_COLUMNS = (
    "id",
    "payload",
    "status",
    "created_at",
    "action",
    "attempts",
    "enqueued_ns",
    "run_at",
)
_VIEW_COLUMNS = tuple(getattr(Task, name) for name in VIEW_FIELDS)
_END_LEASE = "lease_owner = NULL, lease_expires_at = NULL, claim_token = NULL"


class Store(ABC):
    """One database holding the tasks. Subclasses: ``SqliteStore``, ``PostgresStore``."""

    # Column types for the migrations.
    big_integer_type = "BIGINT"
    real_type = "REAL"

    def __init__(self, db: Database, url: str) -> None:
        self.db = db
        self.url = url
        database.initialize(db)  # the Peewee models read and write this database

    # Connections -------------------------------------------------------

    def close(self) -> None:
        """Close the calling thread's connection (the next call reopens one)."""
        self.db.close()

    def discard_connection(self) -> None:
        """Drop this thread's connection after a ``StorageError``; the next call reconnects.

        A PostgreSQL connection the server closed stays broken until replaced.
        """
        try:
            self.db.close()
        except Exception:  # noqa: BLE001 - it is being thrown away
            pass

    @abstractmethod
    def write_transaction(self) -> AbstractContextManager[Database]:
        """One write transaction on the calling thread's connection."""

    # Schema --------------------------------------------------------------

    def migrate(self) -> list[int]:
        """Apply every pending migration; return the versions applied now (see ``migrations``)."""
        from .migrations import migrate

        return migrate(self)

    @abstractmethod
    def migration_lock(self) -> AbstractContextManager[None]:
        """Keep other migrating processes out while this one migrates."""

    def migration_step(self) -> AbstractContextManager[Database]:
        """One migration step's transaction: all of it or none of it."""
        return self.write_transaction()

    @abstractmethod
    def set_status_check(self, statuses: Sequence[Status], default: Status) -> None:
        """Make the database refuse any status outside ``statuses`` and default to ``default``.

        Called by migrations inside a migration step; existing rows must
        already comply.
        """

    # Writes ------------------------------------------------------------

    def enqueue(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert ``rows`` (from ``new_task``) as ``queued`` in one transaction.

        When this returns, the rows are committed, and every process that
        listens (``open_listener``) has been told.
        """
        with self.write_transaction():
            self._insert(rows)
            self._notify_enqueued()

    def enqueue_each(self, groups: Sequence[Sequence[dict[str, Any]]]) -> list[Exception | None]:
        """Insert each group of rows all or nothing, in one transaction; the others
        still commit when one group breaks a constraint.

        Returns, per group, None when it was stored, or the error that refused
        it (``Conflict`` for a constraint, ``InvalidInput`` for a value the
        database cannot hold). Raises ``StorageError`` when the database
        cannot take the write at all.
        """
        outcomes: list[Exception | None] = []
        with self.write_transaction():
            for rows in groups:
                try:
                    with self.db.savepoint():
                        self._insert(rows)
                except IntegrityError as exc:
                    outcomes.append(Conflict(f"task conflicts with a stored one: {exc}"))
                except DataError as exc:
                    outcomes.append(InvalidInput(f"the database cannot store this task: {exc}"))
                else:
                    outcomes.append(None)
            if any(outcome is None for outcome in outcomes):
                self._notify_enqueued()
        return outcomes

    def _insert(self, rows: Sequence[dict[str, Any]]) -> None:
        p = self.db.param
        row_marks = "(" + ", ".join([p] * len(INSERT_COLUMNS)) + ")"
        for start in range(0, len(rows), INSERT_CHUNK_ROWS):
            chunk = rows[start : start + INSERT_CHUNK_ROWS]
            # One multi-row INSERT per chunk, built by hand: Peewee's query
            # builder spent ~150 µs per row here, more than the commit.
            self.db.execute_sql(
                f"INSERT INTO tasks ({', '.join(INSERT_COLUMNS)}) VALUES "
                + ", ".join([row_marks] * len(chunk)),
                [row[column] for row in chunk for column in INSERT_COLUMNS],
            )

    def _notify_enqueued(self) -> None:
        """Inside the enqueue's transaction: tell other processes that tasks are due.

        A backend without a wake-up across processes (``open_listener`` gives
        None) has nothing to do here.
        """
        return None

    @abstractmethod
    def claim(
        self, owner: str, node: str, limit: int, now: float, lease_seconds: float
    ) -> list[ClaimedTask]:
        """Atomically move up to ``limit`` due tasks to ``running`` under ``owner``'s lease.

        One statement that reads the due index (``explain_claim`` shows the
        plan), so concurrent claims from any number of processes never take
        the same row. The attempt counter goes up here, so an attempt counts
        even if the process dies while running it. Returned oldest-due first.
        """

    @abstractmethod
    def explain_claim(self, limit: int, now: float) -> str:
        """The database's plan for the claim's row selection, as text (for tests and operators)."""

    def _claimed(self, rows: list[tuple], token: str) -> list[ClaimedTask]:
        """Claimed rows (``id, action, payload, attempts, run_at, enqueued_ns``), oldest due
        first."""
        rows.sort(key=lambda row: (row[4], row[5]))
        return [
            ClaimedTask(
                id=row[0],
                action=row[1],
                data=orjson.loads(row[2])["data"],
                attempts=row[3],
                token=token,
            )
            for row in rows
        ]

    def _fence(self) -> str:
        p = self.db.param
        return f"WHERE id = {p} AND status = '{Status.RUNNING}' AND claim_token = {p}"

    def complete_many(self, finished: Sequence[tuple[ClaimedTask, str]], now: float) -> int:
        """Mark each ``(claimed_task, result_json)`` completed, in one transaction.

        Fenced by the claim: a task that was taken back and claimed again since
        is left alone. Returns the number of rows completed.
        """
        if not finished:
            return 0
        p = self.db.param
        sql = (
            f"UPDATE tasks SET status = '{Status.COMPLETED}', result = {p}, error = NULL, "
            f"traceback = NULL, processed_at = {p}, {_END_LEASE} {self._fence()}"
        )
        processed_at = int(now)
        done = 0
        with self.write_transaction():
            for task, result_json in finished:
                done += self.db.execute_sql(
                    sql, (result_json, processed_at, task.id, task.token)
                ).rowcount
        return done

    def fail(
        self,
        task: ClaimedTask,
        failure: Failure,
        now: float,
        max_attempts: int,
        backoff_seconds: float,
        rng: random.Random | None = None,
    ) -> Status | None:
        """Record a failed attempt: ``retrying`` after a backoff, or ``dead`` at ``max_attempts``.

        Fenced like ``complete_many``. Returns the new status, or None when the
        claim was lost and nothing changed.
        """
        p = self.db.param
        error = storable_text(failure.error)
        trace = None if failure.traceback is None else storable_text(failure.traceback)
        if task.attempts >= max_attempts:
            status = Status.DEAD
            sql = (
                f"UPDATE tasks SET status = '{status}', error = {p}, traceback = {p}, "
                f"processed_at = {p}, {_END_LEASE} "
            )
            params = (error, trace, int(now), task.id, task.token)
        else:
            status = Status.RETRYING
            run_at = now + retry_delay_seconds(task.attempts, backoff_seconds, rng)
            sql = (
                f"UPDATE tasks SET status = '{status}', error = {p}, traceback = {p}, "
                f"run_at = {p}, {_END_LEASE} "
            )
            params = (error, trace, run_at, task.id, task.token)
        with self.write_transaction():
            changed = self.db.execute_sql(sql + self._fence(), params).rowcount
        return status if changed else None

    def release(self, tasks: Sequence[ClaimedTask]) -> int:
        """Give back claimed attempts that never started, in one transaction.

        The attempt is refunded and the task is due at once (``retrying`` if an
        earlier attempt failed, else ``queued``). Used for prefetched tasks of a
        crashed worker and at graceful shutdown. Fenced like ``complete_many``.
        """
        if not tasks:
            return 0
        sql = (
            f"UPDATE tasks SET status = CASE WHEN attempts > 1 THEN '{Status.RETRYING}' "
            f"ELSE '{Status.QUEUED}' END, attempts = attempts - 1, {_END_LEASE} {self._fence()}"
        )
        released = 0
        with self.write_transaction():
            for task in tasks:
                released += self.db.execute_sql(sql, (task.id, task.token)).rowcount
        return released

    def heartbeat(
        self, owner: str, task_ids: Sequence[str], now: float, lease_seconds: float
    ) -> int:
        """Extend ``owner``'s lease on the running tasks it still holds."""
        if not task_ids:
            return 0
        p = self.db.param
        marks = ", ".join([p] * len(task_ids))
        with self.write_transaction():
            return self.db.execute_sql(
                f"UPDATE tasks SET lease_expires_at = {p} "
                f"WHERE status = '{Status.RUNNING}' AND lease_owner = {p} AND id IN ({marks})",
                (now + lease_seconds, owner, *task_ids),
            ).rowcount

    def rescue(
        self, now: float, max_attempts: int, dead_owners: Sequence[str] = ()
    ) -> list[Rescued]:
        """Take back running tasks whose lease expired or whose owner is known dead.

        One statement. The interrupted attempt counts: a task that has used
        ``max_attempts`` goes to ``dead`` (this is how a task that kills its
        process every time ends), the rest are ``queued`` and due at once.
        """
        p = self.db.param
        owners = ""
        if dead_owners:
            owners = f" OR lease_owner IN ({', '.join([p] * len(dead_owners))})"
        dead, queued = Status.DEAD, Status.QUEUED
        with self.write_transaction():
            cursor = self.db.execute_sql(
                f"UPDATE tasks SET "
                f"status = CASE WHEN attempts >= {p} THEN '{dead}' ELSE '{queued}' END, "
                f"processed_at = CASE WHEN attempts >= {p} THEN {p} ELSE processed_at END, "
                f"error = 'attempt ' || CAST(attempts AS TEXT) || ' interrupted: ' "
                f"|| lease_owner || ' died or its lease expired', traceback = NULL, "
                f"run_at = {p}, {_END_LEASE} "
                f"WHERE status = '{Status.RUNNING}' AND (lease_expires_at < {p}{owners}) "
                f"RETURNING id, status",
                (max_attempts, max_attempts, int(now), now, now, *dead_owners),
            )
            return [Rescued(row[0], Status(row[1])) for row in cursor.fetchall()]

    # Reads -------------------------------------------------------------

    def lease_owners(self) -> list[str]:
        """The processes that hold running tasks now."""
        cursor = self.db.execute_sql(
            f"SELECT DISTINCT lease_owner FROM tasks WHERE status = '{Status.RUNNING}'"
        )
        return [row[0] for row in cursor.fetchall() if row[0] is not None]

    def list_tasks(self, status: Status | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Newest first (``created_at``, then acceptance order), as views (``VIEW_FIELDS``)."""
        query = Task.select(*_VIEW_COLUMNS)
        if status is not None:
            query = query.where(Task.status == status.value)
        query = query.order_by(Task.created_at.desc(), Task.enqueued_ns.desc()).limit(limit)
        return [dict(zip(VIEW_FIELDS, row, strict=True)) for row in query.tuples()]

    def get_task(self, task_id: str) -> dict[str, Any]:
        """One task's view; raises ``TaskNotFound``."""
        if "\x00" in task_id:  # no id holds one, and PostgreSQL refuses it in a query
            raise TaskNotFound("task not found")
        rows = list(Task.select(*_VIEW_COLUMNS).where(Task.id == task_id).tuples())
        if not rows:
            raise TaskNotFound("task not found")
        return dict(zip(VIEW_FIELDS, rows[0], strict=True))

    def count_backlog(self) -> int:
        """Tasks waiting to be claimed (``queued`` or ``retrying``), counted on the due index."""
        cursor = self.db.execute_sql(
            f"SELECT COUNT(*) FROM tasks WHERE status IN ({sql_list(CLAIMABLE)})"
        )
        return cursor.fetchone()[0]

    def count_by_status(self) -> dict[Status, int]:
        query = Task.select(Task.status, fn.COUNT(Task.id)).group_by(Task.status).tuples()
        counts = dict.fromkeys(STATUSES, 0)
        counts.update((Status(status), count) for status, count in query)
        return counts

    # Coordination between processes ------------------------------------

    def open_listener(self) -> Listener | None:
        """A listener that hears when any process commits new tasks, or None when
        this backend has no such wake-up across processes (polling finds the work)."""
        return None

    @abstractmethod
    def try_lead(self, holder: str, now: float, ttl_seconds: float) -> bool:
        """Take or keep the cluster's leadership for ``holder``; True while it is held.

        At most one holder leads at a time, across every process on this
        database. Called periodically from one thread, whose connection may
        carry the lease; leadership also ends when that connection is lost.
        """

    @abstractmethod
    def resign(self, holder: str) -> None:
        """Give up the leadership if ``holder`` has it."""
