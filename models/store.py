"""The storage contract: every state change and every read the service makes.

A ``Store`` is the one object the actors and the web layer talk to about
tasks; ``open_store`` picks the backend from the URL. Each backend module
(``sqlite_store``, ``postgres_store``) implements what differs: the claim,
the write lock, the wake-up across processes, the leader lease, and the
column types of the migrations. Everything else is written once, in this
module and those it is made of: ``lifecycle`` (leases, rescue, the stager,
progress), ``control`` (cancel, retry, pause), ``reads``, ``nodes``, and
``history`` (what each transition records).

Each write is one transaction. Finishing an attempt is fenced by its
claim: every claim writes a fresh ``claim_token``, and only the holder of
the current token can settle that attempt, so a task rescued from a
presumed-dead process and claimed again cannot be finished by the old
holder as well.

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
import secrets
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import orjson
from peewee import Database, DataError, IntegrityError, PeeweeException

from . import clock, history
from .backoff import retry_delay_seconds
from .control import ControlMixin
from .errors import DISK_FULL, Conflict, InvalidInput, Unavailable
from .lifecycle import LifecycleMixin
from .nodes import NodesMixin
from .notifications import Listener
from .outcomes import Ending, Outcome
from .reads import ReadsMixin
from .retention import RetentionMixin
from .schedules import SchedulesMixin
from .statuses import FINISHED, Status
from .task import ClaimedTask, Failure, database, storable_text
from .webhooks import WebhooksMixin

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
    "priority",
    "queue",
    "max_attempts",
    "attempt_budget",
    "timeout_seconds",
    "idempotency_key",
    "request_hash",
    "notify_url",
)
END_LEASE = "lease_owner = NULL, lease_expires_at = NULL, claim_token = NULL"


@dataclass(frozen=True)
class ClaimRequest:
    """What a claim asks for: up to ``limit`` due tasks of ``queues``, leased to ``owner``."""

    owner: str
    node: str
    limit: int
    queues: Sequence[str]
    lease_seconds: float


@dataclass(frozen=True)
class Settled:
    """What ``settle`` did: the new status of each attempt it settled (those whose
    claim was lost are left out), and the tasks it claimed after."""

    statuses: dict[str, Status]
    claimed: list[ClaimedTask]


class Store(
    LifecycleMixin,
    ControlMixin,
    ReadsMixin,
    NodesMixin,
    SchedulesMixin,
    RetentionMixin,
    WebhooksMixin,
    ABC,
):
    """One database holding the tasks. Subclasses: ``SqliteStore``, ``PostgresStore``."""

    # Column types for the migrations.
    big_integer_type = "BIGINT"
    real_type = "REAL"
    serial_type = "INTEGER"  # an integer key the database numbers itself
    row_lock_clause = ""  # appended to a SELECT whose rows the transaction changes next
    # Whether a page with no filter reads the index on creation time alone (one
    # range) or, like a filtered page, one range per status (see ``list_page``).
    pages_by_creation_index = False

    def __init__(self, db: Database, url: str) -> None:
        self.db = db
        self.url = url
        self._known_queues: set[str] = set()  # queues this process has made sure exist
        # False only to measure what the history costs (run.py --measure-without events)
        self.record_history = True
        # Names this store's "new tasks" notifications, so that its own listener can
        # leave out those its process has woken its dispatcher for (``enqueue``).
        self.origin = secrets.token_hex(8)
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

    def schema_version(self) -> int:
        cursor = self.db.execute_sql("SELECT MAX(version) FROM schema_version")
        return cursor.fetchone()[0] or 0

    # Whether the ``now`` a caller passes decides leases and due times. SQLite: yes,
    # every process shares one machine's clock. PostgreSQL: no, the database's clock
    # does; tests that pin time (a fixed ``now``, later moved on) set it, as River's
    # tests stub its time source.
    trust_caller_clock = True

    def now_sql(self, now: float) -> tuple[str, list]:
        """SQL for "now" wherever a lease or a due time is decided, with its parameters.

        Here the caller's clock (every process on one machine shares it);
        PostgreSQL uses its own clock instead, so that nodes whose clocks
        disagree still agree on whose lease has expired.
        """
        return self.db.param, [now]

    def database_now(self, now: float) -> float:
        """The time by the clock that decides leases and due times (see ``now_sql``)."""
        return now

    def _due_mark(self) -> str:
        """How an insert writes a task's ``run_at``, given ``_due_values(row)``: here
        the node's value; PostgreSQL turns a delay into its own clock's time."""
        return self.db.param

    def _due_values(self, row: dict[str, Any]) -> list:
        return [row["run_at"]]

    def files_problem(self) -> str | None:
        """Why the database's files cannot be trusted with a write (a backend that keeps
        files of its own checks them), or None."""
        return None

    def save_what_is_committed(self) -> None:
        """Best effort, once ``files_problem`` found one: move what was committed to
        where the next start reads it (a backend that keeps files of its own)."""

    def unavailable(self, error: Exception) -> Unavailable:
        """``error`` (a ``StorageError``) as the caller should hear it: a full disk by name."""
        if self._is_disk_full(error):
            return Unavailable(DISK_FULL)
        return Unavailable(f"database unavailable: {error}")

    def _is_disk_full(self, error: Exception) -> bool:
        return False

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

    # Enqueue -------------------------------------------------------------

    def enqueue(
        self,
        rows: Sequence[dict[str, Any]],
        tell_here: bool = True,
        tell_others: bool = True,
        claim: ClaimRequest | None = None,
    ) -> list[ClaimedTask]:
        """Insert ``rows`` (from ``new_task``) in one transaction.

        When this returns, the rows are committed, their queues exist, and
        every process that listens (``open_listener``) has been told; with
        ``tell_here`` False, every listener but this store's own, for a
        caller that wakes its own dispatcher itself (the web handlers do);
        with ``tell_others`` False too, none, for a caller whose process
        starts the tasks at once.

        With ``claim``, the same transaction then claims for it, as ``claim``
        does (best due tasks first, paused queues left alone), and returns
        what it claimed: a process whose workers are idle starts new tasks one
        commit sooner than by a claim of its own. Other processes are then
        told only if a row was left unclaimed.
        """
        claimed: list[ClaimedTask] = []
        with self.write_transaction():
            self._insert(rows)
            self._register_queues(rows)
            self._record_scheduled(rows)
            if claim is not None and claim.limit > 0 and claim.queues:
                now = clock.now()
                claimed = self._claim(claim, claim.queues, now)
                self.record_events(history.claimed(claimed, claim.node, now))
                taken = {task.id for task in claimed}
                tell_others = tell_others and any(row["id"] not in taken for row in rows)
            self._notify_enqueued(tell_here, tell_others)
        return claimed

    def enqueue_each(
        self,
        groups: Sequence[Sequence[dict[str, Any]]],
        tell_here: bool = True,
        tell_others: bool = True,
    ) -> list[Exception | None]:
        """Insert each group of rows all or nothing, in one transaction; the others
        still commit when one group breaks a constraint. ``tell_here`` and ``tell_others``
        as in ``enqueue``.

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
            stored = [
                row
                for rows, error in zip(groups, outcomes, strict=True)
                if error is None
                for row in rows
            ]
            if stored:
                self._register_queues(stored)
                self._record_scheduled(stored)
                self._notify_enqueued(tell_here, tell_others)
        return outcomes

    def _insert(self, rows: Sequence[dict[str, Any]]) -> None:
        # One multi-row INSERT per chunk, built by hand: Peewee's query builder
        # spent ~150 µs per row here, more than the commit.
        p, due = self.db.param, INSERT_COLUMNS.index("run_at")
        marks = [p] * len(INSERT_COLUMNS)
        marks[due] = self._due_mark()
        values = []
        for row in rows:
            row_values = [row[c] for c in INSERT_COLUMNS]
            row_values[due : due + 1] = self._due_values(row)
            values.append(row_values)
        self.insert_rows("tasks", INSERT_COLUMNS, values, marks)

    def insert_rows(
        self,
        table: str,
        columns: Sequence[str],
        values: Sequence[Sequence],
        marks: Sequence[str] | None = None,
        later: bool = False,
    ) -> None:
        """Insert ``values`` into ``table`` with multi-row INSERTs (one statement per chunk);
        ``marks`` are the columns' placeholders when one is an expression. ``later``: the
        rows may go with the transaction's next statement (see ``_write_later``)."""
        if not values:
            return
        p = self.db.param
        row_marks = "(" + ", ".join(marks or [p] * len(columns)) + ")"
        chunk_rows = max(1, INSERT_CHUNK_ROWS * len(INSERT_COLUMNS) // len(columns))
        execute = self._write_later if later else self._execute_repeated
        for start in range(0, len(values), chunk_rows):
            chunk = values[start : start + chunk_rows]
            execute(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                + ", ".join([row_marks] * len(chunk)),
                [value for row in chunk for value in row],
            )

    def _record_scheduled(self, rows: Sequence[dict[str, Any]]) -> None:
        scheduled = Status.SCHEDULED.value
        now = clock.now()
        self.record_events(
            [
                (row["id"], now, "scheduled", {"run_at": row["run_at"]})
                for row in rows
                if row["status"] == scheduled
            ]
        )

    def _register_queues(self, rows: Sequence[dict[str, Any]]) -> None:
        """Make sure every queue of ``rows`` has its row in ``queues`` (in the caller's
        transaction); a queue this process has seen made before costs nothing. It is
        known as made once that transaction commits: a rollback leaves it to the next."""
        new = {row["queue"] for row in rows} - self._known_queues
        if not new:
            return
        p = self.db.param
        for name in sorted(new):
            self._write_later(
                f"INSERT INTO queues (name) VALUES ({p}) ON CONFLICT (name) DO NOTHING", (name,)
            )
        self.db.after_commit(lambda: self._known_queues.update(new))

    def _execute_repeated(self, sql: str, params: Sequence | None = None) -> Any:
        """``db.execute_sql`` for a statement run for every task, with other parameters each
        time: one the database may keep parsed and planned (PostgreSQL prepares it; Python's
        sqlite3 keeps its own statement cache)."""
        return self.db.execute_sql(sql, params)

    def _write_later(self, sql: str, params: Sequence | None = None) -> None:
        """Run a write whose result nobody reads, in the caller's transaction: at once, or
        (PostgreSQL) sent together with the transaction's next statement or its commit, to
        save round trips. Later statements of the transaction see it either way."""
        self.db.execute_sql(sql, params)

    def _commit_without_flush(self) -> None:
        """Let the caller's transaction, a claim alone, commit without waiting for its log
        to reach the disk, where the database can do so for one transaction
        (PostgreSQL). A database crash can then forget the claim: the task is queued
        again, and the attempt that ran meanwhile is fenced off at its settle, as after
        a lost lease. A claim that carries outcomes waits for the disk as before."""

    def _notify_enqueued(self, tell_here: bool = True, tell_others: bool = True) -> None:
        """Inside the enqueue's transaction: tell other processes that tasks are due
        unless ``tell_others`` is False, and this store's own listener too unless
        ``tell_here`` is False.

        A backend without a wake-up across processes (``open_listener`` gives
        None) has nothing to do here.
        """
        return None

    # Claim and settle ----------------------------------------------------

    def claim(
        self,
        owner: str,
        node: str,
        limit: int,
        now: float,
        lease_seconds: float,
        queues: Sequence[str] | None = None,
    ) -> list[ClaimedTask]:
        """Atomically move up to ``limit`` due tasks of ``queues`` to ``running`` under
        ``owner``'s lease, best first: by priority, then due time, then acceptance.

        ``queues`` None means every queue that is not paused. One statement
        that reads the due index (``explain_claim`` shows the plan), so
        concurrent claims from any number of processes never take the same
        row. The attempt counter goes up here, so an attempt counts even if
        the process dies while running it. Returned best first.
        """
        return self.settle([], now, ClaimRequest(owner, node, limit, queues, lease_seconds)).claimed

    def settle(
        self,
        outcomes: Sequence[Outcome],
        now: float,
        claim: ClaimRequest | None = None,
        default_max_attempts: int = 5,
        backoff_seconds: float = 1.0,
        rng: random.Random | None = None,
        node: str = "",
    ) -> Settled:
        """Record how attempts ended, then claim more, in one transaction.

        Each outcome is fenced by its claim. A completion is ``completed``; a
        failure is ``retrying`` (due after its backoff), or ``dead`` when it
        used the task's last attempt (``max_attempts``, else
        ``default_max_attempts``) or is permanent; an unstarted attempt is
        given back with its attempt refunded. Any of them but a completion
        is ``canceled`` instead when a cancel was asked meanwhile. Sharing
        the transaction with the next claim halves the commits of a busy
        node.
        """
        statuses: dict[str, Status] = {}
        claimed: list[ClaimedTask] = []
        if not outcomes and (claim is None or claim.limit <= 0):
            return Settled(statuses, claimed)
        with self.write_transaction():
            if outcomes:
                statuses = self._settle(
                    outcomes, now, default_max_attempts, backoff_seconds, rng, node
                )
            if claim is not None and claim.limit > 0:
                queues = self.active_queues() if claim.queues is None else claim.queues
                if queues:
                    if not outcomes:
                        self._commit_without_flush()
                    claimed = self._claim(claim, queues, now)
                    self.record_events(history.claimed(claimed, claim.node, now))
        return Settled(statuses, claimed)

    def complete_many(self, finished: Sequence[tuple[ClaimedTask, str]], now: float) -> int:
        """``settle`` completions alone: each ``(claimed_task, result_json)``; returns how
        many were completed (the others' claims were lost)."""
        outcomes = [
            Outcome(task, Ending.COMPLETED, result_json=result) for task, result in finished
        ]
        return len(self.settle(outcomes, now).statuses)

    def fail(
        self,
        task: ClaimedTask,
        failure: Failure,
        now: float,
        max_attempts: int,
        backoff_seconds: float,
        rng: random.Random | None = None,
        permanent: bool = False,
    ) -> Status | None:
        """``settle`` one failure alone; returns the new status, or None when the claim was
        lost. ``max_attempts`` applies to a task submitted without its own."""
        outcome = Outcome(task, Ending.FAILED, failure=failure, permanent=permanent)
        settled = self.settle([outcome], now, None, max_attempts, backoff_seconds, rng)
        return settled.statuses.get(task.id)

    def release(self, tasks: Sequence[ClaimedTask], now: float | None = None) -> int:
        """``settle`` attempts that never started: each is given back with its attempt
        refunded (or canceled, if a cancel was asked). Returns how many."""
        now = clock.now() if now is None else now
        outcomes = [Outcome(task, Ending.UNSTARTED) for task in tasks]
        return len(self.settle(outcomes, now).statuses)

    @abstractmethod
    def _claim(self, claim: ClaimRequest, queues: Sequence[str], now: float) -> list[ClaimedTask]:
        """The claim statement, inside the caller's transaction (see ``claim``)."""

    @abstractmethod
    def explain_claim(self, limit: int, now: float, queues: Sequence[str] = ("default",)) -> str:
        """The database's plan for the claim's row selection, as text (for tests and operators)."""

    @abstractmethod
    def explain(self, sql: str, params: Sequence) -> str:
        """The database's plan for ``sql``, as text."""

    def _claimed(self, rows: list[tuple], token: str) -> list[ClaimedTask]:
        """Claimed rows (``id, action, payload, attempts, queue, max_attempts,
        timeout_seconds, priority, run_at, enqueued_ns``), best first."""
        rows.sort(key=lambda row: (row[7], row[8], row[9]))
        return [
            ClaimedTask(
                id=row[0],
                action=row[1],
                data=orjson.loads(row[2])["data"],
                attempts=row[3],
                token=token,
                queue=row[4],
                max_attempts=row[5],
                timeout_seconds=row[6],
                due_at=row[8],
            )
            for row in rows
        ]

    CLAIM_RETURNING = (
        "id, action, payload, attempts, queue, max_attempts, timeout_seconds, priority, "
        "run_at, enqueued_ns"
    )

    def _settle(
        self,
        outcomes: Sequence[Outcome],
        now: float,
        default_max_attempts: int,
        backoff_seconds: float,
        rng: random.Random | None,
        node: str,
    ) -> dict[str, Status]:
        statuses: dict[str, Status] = {}
        completed = [o for o in outcomes if o.ending == Ending.COMPLETED]
        if completed:
            statuses.update(self._complete(completed, now))
        for outcome in outcomes:
            if outcome.ending == Ending.FAILED:
                status = self._fail(outcome, now, default_max_attempts, backoff_seconds, rng)
            elif outcome.ending == Ending.UNSTARTED:
                status = self._release(outcome.task, now)
            else:
                continue
            if status is not None:
                statuses[outcome.task.id] = status
        finished = Counter(
            (outcome.task.queue, statuses[outcome.task.id])
            for outcome in outcomes
            if statuses.get(outcome.task.id) in FINISHED
        )
        self.count_finished(finished, node)
        self.record_events(history.settled(outcomes, statuses, now))
        self._count_minute(outcomes, statuses, now, node)
        ended = [task_id for task_id, status in statuses.items() if status in FINISHED]
        if ended:
            self.record_deliveries(ended, now)
            self._notify_finished(ended)
        return statuses

    def _count_minute(
        self, outcomes: Sequence[Outcome], statuses: Mapping[str, Status], now: float, node: str
    ) -> None:
        """Add this batch to the node's counts for the current minute (for the charts and
        the drain rate the diagnosis estimates waits with)."""
        completed = failed = dead = 0
        waits = []
        for outcome in outcomes:
            status = statuses.get(outcome.task.id)
            if status is None:
                continue
            completed += status == Status.COMPLETED
            failed += outcome.ending == Ending.FAILED
            dead += status == Status.DEAD
            due = outcome.task.due_at
            if outcome.started_at is not None and due is not None:
                waits.append(max(0.0, outcome.started_at - due))
        if not (completed or failed or waits):
            return
        p = self.db.param
        self._write_later(
            f"INSERT INTO minute_stats (minute, node, completed, failed, dead, wait_sum, "
            f"wait_count, wait_max) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}) "
            f"ON CONFLICT (minute, node) DO UPDATE SET "
            f"completed = minute_stats.completed + excluded.completed, "
            f"failed = minute_stats.failed + excluded.failed, "
            f"dead = minute_stats.dead + excluded.dead, "
            f"wait_sum = minute_stats.wait_sum + excluded.wait_sum, "
            f"wait_count = minute_stats.wait_count + excluded.wait_count, "
            f"wait_max = CASE WHEN excluded.wait_max > minute_stats.wait_max "
            f"THEN excluded.wait_max ELSE minute_stats.wait_max END",
            (
                int(now // 60) * 60,
                node,
                completed,
                failed,
                dead,
                sum(waits),
                len(waits),
                max(waits, default=0.0),
            ),
        )

    def _notify_finished(self, task_ids: Sequence[str]) -> None:
        """Inside the settle's transaction: tell other processes these tasks finished."""
        return None

    def _fence(self, table: str = "") -> str:
        p = self.db.param
        prefix = f"{table}." if table else ""
        return (
            f"{prefix}id = {p} AND {prefix}status = '{Status.RUNNING}' "
            f"AND {prefix}claim_token = {p}"
        )

    def _complete(self, outcomes: Sequence[Outcome], now: float) -> dict[str, Status]:
        """One statement for the whole batch: each (id, token) fences its own row."""
        p = self.db.param
        values = ", ".join([f"({p}, {p}, {p})"] * len(outcomes))
        params: list[Any] = []
        for outcome in outcomes:
            params += [outcome.task.id, outcome.task.token, outcome.result_json]
        cursor = self._execute_repeated(
            f"WITH finished (id, token, result) AS (VALUES {values}) "
            f"UPDATE tasks SET status = '{Status.COMPLETED}', result = finished.result, "
            f"error = NULL, traceback = NULL, processed_at = {p}, cancel_requested = 0, "
            f"{END_LEASE} FROM finished WHERE tasks.id = finished.id "
            f"AND tasks.status = '{Status.RUNNING}' AND tasks.claim_token = finished.token "
            f"RETURNING tasks.id",
            [*params, int(now)],
        )
        return {row[0]: Status.COMPLETED for row in cursor.fetchall()}

    def _fail(
        self,
        outcome: Outcome,
        now: float,
        default_max_attempts: int,
        backoff_seconds: float,
        rng: random.Random | None,
    ) -> Status | None:
        p = self.db.param
        task, failure = outcome.task, outcome.failure
        error = storable_text(failure.error)
        trace = None if failure.traceback is None else storable_text(failure.traceback)
        delay = retry_delay_seconds(task.attempts, backoff_seconds, rng)
        now_mark, now_params = self.now_sql(now)
        canceled, dead, retrying = Status.CANCELED, Status.DEAD, Status.RETRYING
        last = f"({p} OR attempts >= COALESCE(max_attempts, {p}))"
        cursor = self._execute_repeated(
            f"UPDATE tasks SET "
            f"status = CASE WHEN cancel_requested = 1 THEN '{canceled}' "
            f"WHEN {last} THEN '{dead}' ELSE '{retrying}' END, "
            f"run_at = CASE WHEN cancel_requested = 0 AND NOT {last} THEN {now_mark} + {p} "
            f"ELSE run_at END, "
            f"processed_at = CASE WHEN cancel_requested = 1 OR {last} THEN {p} "
            f"ELSE processed_at END, "
            f"error = {p}, traceback = {p}, cancel_requested = 0, {END_LEASE} "
            f"WHERE {self._fence()} RETURNING status",
            (
                outcome.permanent,
                default_max_attempts,
                outcome.permanent,
                default_max_attempts,
                *now_params,
                delay,
                outcome.permanent,
                default_max_attempts,
                int(now),
                error,
                trace,
                task.id,
                task.token,
            ),
        )
        row = cursor.fetchone()
        return None if row is None else Status(row[0])

    def _release(self, task: ClaimedTask, now: float) -> Status | None:
        canceled = Status.CANCELED
        p = self.db.param
        cursor = self._execute_repeated(
            f"UPDATE tasks SET "
            f"status = CASE WHEN cancel_requested = 1 THEN '{canceled}' "
            f"WHEN attempts > 1 THEN '{Status.RETRYING}' ELSE '{Status.QUEUED}' END, "
            f"processed_at = CASE WHEN cancel_requested = 1 THEN {p} ELSE processed_at END, "
            f"attempts = attempts - 1, cancel_requested = 0, {END_LEASE} "
            f"WHERE {self._fence()} RETURNING status",
            (int(now), task.id, task.token),
        )
        row = cursor.fetchone()
        return None if row is None else Status(row[0])

    def count_finished(self, finished: Mapping[tuple[str, Status], int], node: str = "") -> None:
        """Add to the counts of finished tasks by (queue, status), in the caller's
        transaction; ``node`` keeps two nodes off the same counter row."""
        p = self.db.param
        for (queue, status), count in finished.items():
            self._write_later(
                f"INSERT INTO finished_counts (queue, status, node, count) "
                f"VALUES ({p}, {p}, {p}, {p}) ON CONFLICT (queue, status, node) "
                f"DO UPDATE SET count = finished_counts.count + excluded.count",
                (queue, str(status), node, count),
            )

    # History -------------------------------------------------------------

    def record_events(self, events: Sequence[history.Event]) -> None:
        """Append ``(task_id, at, kind, detail)`` events, in the caller's transaction."""
        if not self.record_history:
            return
        self.insert_rows(
            "task_events",
            ("task_id", "at", "kind", "detail"),
            [
                (task_id, at, kind, None if detail is None else orjson.dumps(detail).decode())
                for task_id, at, kind, detail in events
            ],
            later=True,
        )

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
