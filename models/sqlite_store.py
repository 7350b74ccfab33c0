"""SQLite: the embedded default.

WAL mode with ``synchronous=FULL``: a commit is on disk when it returns, so
it survives both kill -9 and power loss. Writers of this process take turns
on a Python lock before SQLite's own; other processes sharing the file meet
the busy timeout, trying for the write lock again within a millisecond or
two (``sqlite_lock_wait``). The claim is forced onto the partial due-index.
There is no wake-up across processes: other processes on the same file find
new work by polling. The leader lease is a row.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from peewee import Database, PeeweeException

from .sqlite_files import DatabaseFiles
from .sqlite_lock_wait import ShortWaitSqliteDatabase
from .statuses import CLAIMABLE, Status, sql_list
from .store import ClaimRequest, Store
from .task import ClaimedTask

SQLITE_BUSY_TIMEOUT_SECONDS = 5.0
SQLITE_SYNCHRONOUS = "FULL"
LEADER_LEASE_NAME = "maintenance"
NOT_PAUSED = "NOT EXISTS (SELECT 1 FROM queues WHERE name = ? AND paused = 1)"

# One lock for every SQLite store of this process: threads of one process
# never wait on each other inside SQLite.
_writer = threading.Lock()


def open_sqlite(url: str, busy_timeout_seconds: float = SQLITE_BUSY_TIMEOUT_SECONDS) -> SqliteStore:
    """``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``; the folder is made."""
    path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else ""
    if not path:
        raise ValueError(f"expected sqlite:///path/to/file.db, got {url!r}")
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    db = ShortWaitSqliteDatabase(
        path,
        busy_timeout_seconds,
        returning_clause=True,
        pragmas={
            "journal_mode": "wal",
            "synchronous": SQLITE_SYNCHRONOUS,
            "busy_timeout": int(busy_timeout_seconds * 1000),
        },
    )
    return SqliteStore(db, url)


class SqliteStore(Store):
    # ``INDEXED BY`` pins each query to its index, so the index on creation time
    # cannot mislead a filtered page here; one range of it reads a 1,000-task page
    # in 2.2 ms, where seven merged ranges take 5.5 (SQLite sorts each of them).
    pages_by_creation_index = True

    def __init__(self, db: Database, url: str) -> None:
        super().__init__(db, url)
        self._files = DatabaseFiles(db.database)

    @contextmanager
    def write_transaction(self) -> Iterator[Database]:
        """``BEGIN IMMEDIATE``, after this process's other writers.

        SQLite's own busy handler makes a blocked writer sleep 1, 2, 5, 10…
        ms between tries, so two of our threads writing at once (the intake,
        the dispatcher, a worker) would cost the loser milliseconds; a lock
        hands over at once. After some errors (a full disk) SQLite has rolled
        the transaction back itself, and Peewee's own rollback then fails: the
        error raised is the first one, not "cannot rollback".
        """
        with _writer:
            try:
                with self.db.atomic(lock_type="IMMEDIATE"):
                    yield self.db
            except PeeweeException as exc:
                first = _before_failed_rollbacks(exc)
                if first is exc:
                    raise
                raise first from None

    def files_problem(self) -> str | None:
        return self._files.problem()

    def save_what_is_committed(self) -> None:
        """Copy the ``-wal`` this process still holds open into the database file, so a
        commit made into a deleted ``-wal`` survives a crash. Only on a connection
        opened before: a new one would start a new ``-wal`` beside the deleted one."""
        if self.db.is_closed():
            return
        try:
            self.db.execute_sql("PRAGMA wal_checkpoint(FULL)")
        except PeeweeException:
            self.discard_connection()

    def _is_disk_full(self, error: Exception) -> bool:
        # SQLITE_FULL's message, which is all that Peewee's wrapping keeps
        return "database or disk is full" in str(error)

    @contextmanager
    def migration_lock(self) -> Iterator[None]:
        # Each step's BEGIN IMMEDIATE already serialises migrating processes.
        yield

    def set_status_check(self, statuses: Sequence[Status], default: Status) -> None:
        """SQLite cannot alter a column: rebuild the table with the new definition.

        This is SQLite's documented procedure for other schema changes
        ("Making Other Kinds Of Table Schema Changes"): create the new table,
        copy, drop, rename, recreate the indexes, inside the step's transaction.
        """
        db = self.db
        table_sql, index_sqls = _table_definition(db, "tasks")
        status_column = (
            f"status TEXT NOT NULL DEFAULT '{default}' CHECK (status IN ({sql_list(statuses)}))"
        )
        columns_sql = _replace_column(table_sql, "status", status_column)
        new_sql = f"CREATE TABLE tasks_rebuilt ({columns_sql})"
        columns = ", ".join(column.name for column in db.get_columns("tasks"))
        db.execute_sql(new_sql)
        db.execute_sql(f"INSERT INTO tasks_rebuilt ({columns}) SELECT {columns} FROM tasks")
        db.execute_sql("DROP TABLE tasks")
        db.execute_sql("ALTER TABLE tasks_rebuilt RENAME TO tasks")
        for index_sql in index_sqls:
            db.execute_sql(index_sql)

    def _claim(self, claim: ClaimRequest, queues: Sequence[str], now: float) -> list[ClaimedTask]:
        p = self.db.param
        token = uuid.uuid4().hex
        due_sql, due_params = self._due_sql(queues, now, claim.limit)
        now_mark, now_params = self.now_sql(now)
        cursor = self.db.execute_sql(
            f"UPDATE tasks SET status = '{Status.RUNNING}', attempts = attempts + 1, "
            f"claim_token = {p}, lease_owner = {p}, node = {p}, "
            f"lease_expires_at = {now_mark} + {p} "
            f"WHERE id IN ({due_sql}) RETURNING {self.CLAIM_RETURNING}",
            (token, claim.owner, claim.node, *now_params, claim.lease_seconds, *due_params),
        )
        return self._claimed(cursor.fetchall(), token)

    def _due_sql(self, queues: Sequence[str], now: float, limit: int) -> tuple[str, list]:
        """The best ``limit`` due tasks of ``queues``: each queue's best ``limit`` read off
        the due index (its leading column is the queue), then the best of those.

        Without statistics SQLite may prefer another index and sort the whole
        backlog; ``INDEXED BY`` makes each branch read at most ``limit`` rows.
        A paused queue gives nothing, whatever the caller thought: a pause is
        obeyed from its commit on, even by a node that has not read it yet.
        """
        p = self.db.param
        branch = (
            f"SELECT * FROM (SELECT id, priority, run_at, enqueued_ns FROM tasks "
            f"INDEXED BY tasks_due WHERE status IN ({sql_list(CLAIMABLE)}) AND queue = {p} "
            f"AND run_at <= {p} AND {NOT_PAUSED} "
            f"ORDER BY priority, run_at, enqueued_ns LIMIT {p})"
        )
        if len(queues) == 1:  # the usual case: the index order is the answer
            return f"SELECT id FROM ({branch})", [queues[0], now, queues[0], limit]
        params: list = []
        for queue in queues:
            params += [queue, now, queue, limit]
        sql = (
            f"SELECT id FROM ({' UNION ALL '.join([branch] * len(queues))}) "
            f"ORDER BY priority, run_at, enqueued_ns LIMIT {p}"
        )
        return sql, [*params, limit]

    def explain_claim(self, limit: int, now: float, queues: Sequence[str] = ("default",)) -> str:
        return self.explain(*self._due_sql(queues, now, limit))

    def explain(self, sql: str, params: Sequence) -> str:
        cursor = self.db.execute_sql(f"EXPLAIN QUERY PLAN {sql}", params)
        depth: dict[int, int] = {0: -1}
        lines = []
        for node, parent, _, detail in cursor.fetchall():
            depth[node] = depth.get(parent, -1) + 1
            lines.append("  " * depth[node] + detail)
        return "\n".join(lines)

    def index_hint(self, index: str) -> str:
        """Without statistics SQLite may pick another index and sort: name the one to read."""
        return f"INDEXED BY {index}"

    def try_lead(self, holder: str, now: float, ttl_seconds: float) -> bool:
        p = self.db.param
        with self.write_transaction():
            self.db.execute_sql(
                f"INSERT INTO leader (name, holder, expires_at) VALUES ({p}, {p}, {p}) "
                f"ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
                f"expires_at = excluded.expires_at "
                f"WHERE leader.holder = excluded.holder OR leader.expires_at < {p}",
                (LEADER_LEASE_NAME, holder, now + ttl_seconds, now),
            )
            cursor = self.db.execute_sql(
                f"SELECT holder FROM leader WHERE name = {p}", (LEADER_LEASE_NAME,)
            )
            return cursor.fetchone()[0] == holder

    def resign(self, holder: str) -> None:
        p = self.db.param
        with self.write_transaction():
            self.db.execute_sql(
                f"DELETE FROM leader WHERE name = {p} AND holder = {p}", (LEADER_LEASE_NAME, holder)
            )


def _before_failed_rollbacks(error: BaseException) -> BaseException:
    """The error that made a rollback fail, when ``error`` is that failure (SQLite had
    rolled back already); else ``error``."""
    first = error
    while first.__context__ is not None and any(
        phrase in str(first) for phrase in ("no transaction is active", "no such savepoint")
    ):
        first = first.__context__
    return first if isinstance(first, PeeweeException) else error


def _table_definition(db: Database, table: str) -> tuple[str, list[str]]:
    """The CREATE TABLE statement of ``table`` and those of its explicit indexes."""
    cursor = db.execute_sql(
        "SELECT type, sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL", (table,)
    )
    rows = cursor.fetchall()
    table_sql = next(sql for kind, sql in rows if kind == "table")
    return table_sql, [sql for kind, sql in rows if kind == "index"]


def _replace_column(table_sql: str, name: str, definition: str) -> str:
    """The column definitions of ``table_sql``, that of ``name`` replaced by ``definition``.

    Column definitions are split at top-level commas (a CHECK holds commas
    inside parentheses).
    """
    _, _, body = table_sql.partition("(")
    body = body[: body.rindex(")")]
    parts, depth, current = [], 0, []
    for char in body:
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        depth += char == "("
        depth -= char == ")"
        current.append(char)
    parts.append("".join(current))
    names = [part.strip().split()[0] for part in parts]
    if name not in names:
        raise ValueError(f"no column {name!r} in {table_sql!r}")
    replaced = [
        definition if column == name else part.strip()
        for column, part in zip(names, parts, strict=True)
    ]
    return "\n    " + ",\n    ".join(replaced) + "\n"
