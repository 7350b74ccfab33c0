"""PostgreSQL: several nodes on one database.

Claims take rows with ``FOR UPDATE SKIP LOCKED`` in a CTE, so concurrent
claims from any number of nodes never wait on each other nor take the same
row. Each enqueue sends a NOTIFY in its transaction, and a node's listener
hears it on a connection of its own; a NOTIFY names its store (``origin``)
when that store's process wakes itself, and that store's listener leaves it
out. The leader lease is a session advisory lock, released by the server
when the holder's connection ends. Transactions take two round trips (see
``postgres_pipeline``).
"""

from __future__ import annotations

import select
import socket
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg2
from peewee import Database
from playhouse.db_url import parse

from .notifications import Heard, Listener, ListenerLost
from .postgres_pipeline import PipelinedPostgresqlDatabase
from .statuses import CLAIMABLE, Status, sql_list
from .store import ClaimRequest, Store
from .task import ClaimedTask

NOTIFY_CHANNEL = "taskqueue_new_tasks"
FINISHED_CHANNEL = "taskqueue_finished"
NOTIFY_PAYLOAD_BYTES = 7900  # PostgreSQL refuses a payload of 8,000 bytes or more
# Any constants every node agrees on: they name the advisory locks.
MIGRATION_LOCK_KEY = 0x7A51_0001
LEADER_LOCK_KEY = 0x7A51_0002
DISK_FULL_SQLSTATE = "53100"
# The clock every lease, heartbeat, rescue and due time is decided by, whatever the
# nodes' clocks say: fixed for the statement (so the planner can seek the due index).
DATABASE_NOW = "EXTRACT(EPOCH FROM statement_timestamp())::float8"


def open_postgresql(url: str) -> PostgresStore:
    """``postgresql://user[:password]@host:port/dbname``."""
    params = parse(url)
    name = params.pop("database")
    return PostgresStore(PipelinedPostgresqlDatabase(name, **params), url)


class PostgresStore(Store):
    big_integer_type = "BIGINT"
    real_type = "DOUBLE PRECISION"
    serial_type = "BIGSERIAL"
    row_lock_clause = " FOR UPDATE"
    trust_caller_clock = False  # the database's clock decides (see ``now_sql``)

    @contextmanager
    def write_transaction(self) -> Iterator[Database]:
        with self.db.atomic():
            yield self.db

    def _execute_repeated(self, sql: str, params: Sequence | None = None) -> Any:
        return self.db.execute_prepared(sql, params)

    def _write_later(self, sql: str, params: Sequence | None = None) -> None:
        self.db.execute_later(sql, params)

    def _commit_without_flush(self) -> None:
        # ``set_config(…, true)`` is ``SET LOCAL`` as a SELECT, which can be prepared and
        # sent with the claim; it ends with the transaction.
        self._write_later("SELECT set_config('synchronous_commit', 'off', true)")

    @contextmanager
    def migration_lock(self) -> Iterator[None]:
        """A session advisory lock: PostgreSQL's catalogue races even on
        ``CREATE TABLE IF NOT EXISTS`` when nodes start together."""
        self.db.execute_sql("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        try:
            yield
        finally:
            self.db.execute_sql("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))

    def set_status_check(self, statuses: Sequence[Status], default: Status) -> None:
        self.db.execute_sql("ALTER TABLE tasks DROP CONSTRAINT IF EXISTS tasks_status_check")
        self.db.execute_sql(
            f"ALTER TABLE tasks ADD CONSTRAINT tasks_status_check "
            f"CHECK (status IN ({sql_list(statuses)}))"
        )
        self.db.execute_sql(f"ALTER TABLE tasks ALTER COLUMN status SET DEFAULT '{default}'")

    def _notify_enqueued(self, tell_here: bool = True, tell_others: bool = True) -> None:
        if not (tell_here or tell_others):
            return
        payload = "" if tell_here else self.origin
        self._write_later("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, payload))

    def _notify_finished(self, task_ids: Sequence[str]) -> None:
        payload: list[str] = []
        size = 0
        for task_id in task_ids:
            if size + len(task_id) + 1 > NOTIFY_PAYLOAD_BYTES:
                self._write_later("SELECT pg_notify(%s, %s)", (FINISHED_CHANNEL, ",".join(payload)))
                payload, size = [], 0
            payload.append(task_id)
            size += len(task_id) + 1
        if payload:
            self._write_later("SELECT pg_notify(%s, %s)", (FINISHED_CHANNEL, ",".join(payload)))

    def _claim(self, claim: ClaimRequest, queues: Sequence[str], now: float) -> list[ClaimedTask]:
        """The rows are picked in a CTE, as Oban and River do: an ``UPDATE … WHERE id IN
        (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)`` may have its subquery run more than
        once by the planner, and so update more than ``n`` rows; a CTE runs once."""
        token = uuid.uuid4().hex
        due_sql, due_params = self._due_sql(queues, now, claim.limit)
        now_mark, now_params = self.now_sql(now)
        returning = ", ".join("tasks." + column for column in self.CLAIM_RETURNING.split(", "))
        cursor = self._execute_repeated(
            f"WITH picked AS ({due_sql}) "
            f"UPDATE tasks SET status = '{Status.RUNNING}', attempts = tasks.attempts + 1, "
            f"claim_token = %s, lease_owner = %s, node = %s, "
            f"lease_expires_at = {now_mark} + %s "
            f"FROM picked WHERE tasks.id = picked.id RETURNING {returning}",
            (*due_params, token, claim.owner, claim.node, *now_params, claim.lease_seconds),
        )
        return self._claimed(cursor.fetchall(), token)

    def _due_sql(self, queues: Sequence[str], now: float, limit: int) -> tuple[str, list]:
        """The best ``limit`` due rows of ``queues``, read off the due index and locked,
        skipping rows another node holds; due by the database's clock (see ``now_sql``).

        For several queues, each queue's best rows come from a LATERAL subquery
        and the best of those are kept; rows a queue locked but the final LIMIT
        left out stay locked only until the commit. A paused queue gives
        nothing, whatever the caller thought: a pause is obeyed from its commit
        on, even by a node that has not read it yet.
        """
        now_mark, now_params = self.now_sql(now)

        def due(queue: str) -> str:
            return (
                f"SELECT id, priority, run_at, enqueued_ns FROM tasks "
                f"WHERE status IN ({sql_list(CLAIMABLE)}) AND queue = {queue} "
                f"AND run_at <= {now_mark} "
                f"AND NOT EXISTS (SELECT 1 FROM queues WHERE name = {queue} AND paused = 1) "
                f"ORDER BY priority, run_at, enqueued_ns LIMIT %s FOR UPDATE SKIP LOCKED"
            )

        if len(queues) == 1:  # the usual case: the index order is the answer
            return due("%s"), [queues[0], *now_params, queues[0], limit]
        sql = (
            f"SELECT due.id FROM unnest(%s::text[]) AS served(name) CROSS JOIN LATERAL ("
            f"{due('served.name')}) AS due "
            f"ORDER BY due.priority, due.run_at, due.enqueued_ns LIMIT %s"
        )
        return sql, [list(queues), *now_params, limit, limit]

    def now_sql(self, now: float) -> tuple[str, list]:
        if self.trust_caller_clock:  # typed: a prepared ``$1 + $2`` says nothing of its types
            return "%s::float8", [now]
        return DATABASE_NOW, []

    def database_now(self, now: float) -> float:
        if self.trust_caller_clock:
            return now
        return float(self.db.execute_sql(f"SELECT {DATABASE_NOW}").fetchone()[0])

    def _due_mark(self) -> str:
        if self.trust_caller_clock:
            return super()._due_mark()
        return f"COALESCE(%s + {DATABASE_NOW}, %s)"

    def _due_values(self, row: dict[str, Any]) -> list:
        if self.trust_caller_clock:
            return super()._due_values(row)
        return [row.get("due_in"), row["run_at"]]

    def _is_disk_full(self, error: Exception) -> bool:
        """Peewee raises its own error while handling psycopg2's, which has the code."""
        cause: BaseException | None = error
        while cause is not None:
            if getattr(cause, "pgcode", None) == DISK_FULL_SQLSTATE:
                return True
            cause = cause.__context__
        return False

    def explain_claim(self, limit: int, now: float, queues: Sequence[str] = ("default",)) -> str:
        return self.explain(*self._due_sql(queues, now, limit))

    def explain(self, sql: str, params: Sequence) -> str:
        cursor = self.db.execute_sql(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())

    def open_listener(self) -> PostgresListener:
        return PostgresListener({"dbname": self.db.database, **self.db.connect_params}, self.origin)

    def try_lead(self, holder: str, now: float, ttl_seconds: float) -> bool:
        """The lock is held by the calling thread's connection; asking again while
        it is held checks that the connection (and so the lock) is still there."""
        cursor = self.db.execute_sql(
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
            "AND pid = pg_backend_pid() AND granted "
            "AND ((classid::bigint << 32) | objid::bigint) = %s) "
            "THEN true ELSE pg_try_advisory_lock(%s) END",
            (LEADER_LOCK_KEY, LEADER_LOCK_KEY),
        )
        return bool(cursor.fetchone()[0])

    def resign(self, holder: str) -> None:
        self.db.execute_sql("SELECT pg_advisory_unlock(%s)", (LEADER_LOCK_KEY,))


class PostgresListener(Listener):
    """``LISTEN`` on an autocommit connection of its own, woken by a socket pair on interrupt."""

    def __init__(self, connect_kwargs: dict, origin: str) -> None:
        self._connect_kwargs = connect_kwargs
        self._origin = origin  # "new tasks" sent with this payload are left out
        self._connection = None
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self.backend_pid: int | None = None  # the server process of the listening connection

    def connect(self) -> None:
        try:
            self._connection = psycopg2.connect(**self._connect_kwargs)
            self._connection.autocommit = True
            cursor = self._connection.cursor()
            cursor.execute(f"LISTEN {NOTIFY_CHANNEL}")
            cursor.execute(f"LISTEN {FINISHED_CHANNEL}")
            self.backend_pid = self._connection.get_backend_pid()
        except (psycopg2.Error, OSError) as exc:
            self.disconnect()
            raise ListenerLost(f"cannot listen: {exc}") from exc

    def wait(self, timeout_seconds: float) -> Heard:
        connection = self._connection
        if connection is None:
            raise ListenerLost("not connected")
        heard = Heard()
        try:
            readable, _, _ = select.select([connection, self._wake_reader], [], [], timeout_seconds)
            if self._wake_reader in readable:
                self._drain_wakes()
            if connection not in readable:
                return heard
            connection.poll()
            for notice in connection.notifies:
                if notice.channel == FINISHED_CHANNEL:
                    heard.finished += [i for i in notice.payload.split(",") if i]
                elif notice.payload != self._origin:  # not what this process woke for
                    heard.new_tasks = True
            connection.notifies.clear()
            return heard
        except (psycopg2.Error, OSError, ValueError) as exc:
            self.disconnect()
            raise ListenerLost(f"listener connection lost: {exc}") from exc

    def interrupt(self) -> None:
        try:
            self._wake_writer.send(b"x")
        except OSError:  # the buffer is full: a wake is pending anyway
            pass

    def _drain_wakes(self) -> None:
        try:
            while self._wake_reader.recv(4096):
                pass
        except BlockingIOError:
            pass

    def disconnect(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            except psycopg2.Error:
                pass
        self._connection = None

    def close(self) -> None:
        self.disconnect()
        self._wake_reader.close()
        self._wake_writer.close()
