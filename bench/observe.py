"""Watching completions in a stack's SQLite file, from a read-only connection.

Both watchers read the file the service itself writes (WAL mode lets a
reader run beside the writer without blocking it), so what they see is what
is committed, and no HTTP request is added to the load.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

IN_CHUNK = 500  # ids per query, well under SQLite's bound-parameter limit
ID_POLL_SECONDS = 0.001


def connect_readonly(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(
        f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False, timeout=30
    )


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
        db_path: Path,
        count_sql: str,
        target: int,
        timeout_seconds: float,
        interval_seconds: float,
    ) -> None:
        self._conn = connect_readonly(db_path)
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
            count = self._conn.execute(self._sql).fetchone()[0]
            seen.polls += 1
            if count and not seen.first_at:
                seen.first_at, seen.first_count = polled_at, count
            if count != seen.count:
                seen.count, seen.last_at = count, polled_at
            if count >= self._target:
                return
            time.sleep(max(0.0, polled_at + self._interval - time.monotonic()))


class IdWatcher:
    """Tells when each of a set of task ids is first seen completed.

    ``PRAGMA data_version`` changes whenever another connection commits, so
    the in-flight ids are looked up only after a commit (or when new ids
    arrive) and the loop costs one cheap pragma per millisecond otherwise.
    A row seen completed by a query that started at ``t`` was committed
    before ``t`` and after the previous query started, so ``t`` is the
    completion time to within one loop (about a millisecond).
    """

    def __init__(self, db_path: Path, ids_sql: str) -> None:
        self._conn = connect_readonly(db_path)
        self._sql = ids_sql
        self.pending: dict[str, float] = {}  # id → time it was due to be POSTed
        self.done: dict[str, float] = {}  # id → latency, seconds
        self._version = -1

    def add(self, task_id: str, due: float) -> None:
        self.pending[task_id] = due

    def check(self, force: bool = False) -> None:
        version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        if not self.pending or (version == self._version and not force):
            return
        self._version = version
        started = time.monotonic()
        ids = list(self.pending)
        for start in range(0, len(ids), IN_CHUNK):
            chunk = ids[start : start + IN_CHUNK]
            sql = self._sql.format(marks=", ".join("?" * len(chunk)))
            for (task_id,) in self._conn.execute(sql, chunk):
                self.done[task_id] = started - self.pending.pop(task_id)

    def close(self) -> None:
        self._conn.close()
