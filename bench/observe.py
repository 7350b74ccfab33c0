"""Watching completions where a stack commits them, from a connection of its own.

The watchers read the database the stack itself writes: a stack's SQLite
file (read-only; WAL mode lets a reader run beside the writer without
blocking it), or its PostgreSQL database (autocommit, so every query sees
what is committed at that moment). What they see is what is committed, and
no HTTP request is added to the load.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

IN_CHUNK = 500  # ids per query, well under SQLite's bound-parameter limit
ID_POLL_SECONDS = 0.001

# Where a stack's completions are: a SQLite file, or a postgresql:// URL.
Target = Path | str


def connect_readonly(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(
        f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False, timeout=30
    )


class Reader:
    """One read connection to a target; ``mark`` is its parameter placeholder."""

    def __init__(self, target: Target) -> None:
        self.postgresql = isinstance(target, str) and target.startswith("postgres")
        if self.postgresql:
            from bench import pg

            self._conn = pg.connect(target)
            self.mark = "%s"
        else:
            self._conn = connect_readonly(Path(target))
            self.mark = "?"
        self._version = -1

    def rows(self, sql: str, params: tuple | list = ()) -> list[tuple]:
        if self.postgresql:
            with self._conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall()
        return self._conn.execute(sql, params).fetchall()

    def rows_of(self, sql: str, ids: list) -> list[tuple]:
        """``sql``'s rows for ``ids``, in chunks of ``IN_CHUNK``: its ``{marks}`` stands for
        the placeholders of one chunk."""
        found: list[tuple] = []
        for start in range(0, len(ids), IN_CHUNK):
            chunk = ids[start : start + IN_CHUNK]
            found += self.rows(sql.format(marks=", ".join([self.mark] * len(chunk))), chunk)
        return found

    def scalar(self, sql: str, params: tuple | list = ()):
        return self.rows(sql, params)[0][0]

    def changed(self) -> bool:
        """False only when nothing can have been committed since the last call that said True.

        SQLite: ``PRAGMA data_version`` changes whenever another connection
        commits. PostgreSQL has nothing as cheap, so there it is always True.
        """
        if self.postgresql:
            return True
        version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        if version == self._version:
            return False
        self._version = version
        return True

    def close(self) -> None:
        self._conn.close()


@dataclass
class DrainObservation:
    first_at: float = 0.0  # monotonic time the first completion was seen
    first_count: int = 0  # completions seen at that moment
    last_at: float = 0.0  # monotonic time the count reached its final value
    count: int = 0
    polls: int = 0

    @property
    def rate(self) -> float:
        """Completions per second between the first and the last one seen."""
        span = self.last_at - self.first_at
        return (self.count - self.first_count) / span if span > 0 else 0.0


class CountWatcher:
    """Polls ``count_sql`` every ``interval_seconds`` until it reaches ``target`` or time runs out.

    Start it before the service, so the first completion is seen within one
    interval of happening; the rate is measured from the first poll that saw
    a completion to the first poll that saw them all, so the polling error is
    at most one interval at each end.
    """

    def __init__(
        self,
        where: Target,
        count_sql: str,
        target: int,
        timeout_seconds: float,
        interval_seconds: float,
        on_first: Callable[[], None] | None = None,
        on_done: Callable[[], None] | None = None,
    ) -> None:
        """``on_first`` runs in the watcher's thread right after the first poll that saw a
        completion, ``on_done`` right after the poll that saw the target (the CPU meter)."""
        self._conn: Reader | None = Reader(where)
        self._on_first = on_first
        self._on_done = on_done
        self._sql = count_sql
        self._target = target
        self._timeout = timeout_seconds
        self._interval = interval_seconds
        self.observation = DrainObservation()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._stop = threading.Event()

    def start(self) -> CountWatcher:
        self._thread.start()
        return self

    def wait(self) -> DrainObservation:
        """Until the target is seen or the timeout passes."""
        self._thread.join(self._timeout + 10)
        self.close()
        return self.observation

    def close(self) -> None:
        """Stop watching now (idempotent)."""
        self._stop.set()
        if self._thread.ident is not None:  # it was started
            self._thread.join()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _run(self) -> None:
        seen = self.observation
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline and not self._stop.is_set():
            polled_at = time.monotonic()
            count = self._conn.scalar(self._sql)
            seen.polls += 1
            if count and not seen.first_at:
                seen.first_at, seen.first_count = polled_at, count
                if self._on_first is not None:
                    self._on_first()
            if count != seen.count:
                seen.count, seen.last_at = count, polled_at
            if count >= self._target:
                if self._on_done is not None:
                    self._on_done()
                return
            time.sleep(max(0.0, polled_at + self._interval - time.monotonic()))


class IdWatcher:
    """Tells when each of a set of task ids is first seen completed.

    On SQLite, ``PRAGMA data_version`` changes whenever another connection
    commits, so the in-flight ids are looked up only after a commit (or when
    new ids arrive) and the loop costs one cheap pragma per millisecond
    otherwise; on PostgreSQL the ids are looked up at every check. A row seen
    completed by a query that started at ``t`` was committed before ``t`` and
    after the previous query started, so ``t`` is the completion time to
    within one loop (about a millisecond).

    ``ids_sql`` has ``{marks}`` for the ids and returns the id first; any
    further columns are kept in ``rows`` (the mix scenario reads the result).
    """

    def __init__(self, where: Target, ids_sql: str) -> None:
        self._conn = Reader(where)
        self._sql = ids_sql
        self.pending: dict[str, float] = {}  # id → time it was due to be POSTed
        self.done: dict[str, float] = {}  # id → latency, seconds
        self.seen_at: dict[str, float] = {}  # id → monotonic time first seen completed
        self.rows: dict[str, tuple] = {}  # id → the query's other columns

    def add(self, task_id: str, due: float) -> None:
        self.pending[task_id] = due

    def check(self, force: bool = False) -> None:
        if not self.pending:
            return
        if not self._conn.changed() and not force:
            return
        started = time.monotonic()
        for task_id, *rest in self._conn.rows_of(self._sql, list(self.pending)):
            task_id = str(task_id)
            self.done[task_id] = started - self.pending.pop(task_id)
            self.seen_at[task_id] = started
            if rest:
                self.rows[task_id] = tuple(rest)

    def close(self) -> None:
        self._conn.close()
