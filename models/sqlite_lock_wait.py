"""Waiting for another process's write lock on a SQLite file in short steps.

Processes sharing one file (several nodes, or ``run.py`` commands beside a
running service) take turns on SQLite's write lock. SQLite's own busy
handler makes the loser sleep 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100
ms between tries, so under steady writes from two processes a transaction
could wait 50 to 100 ms for a lock that was free again within a
millisecond. Here ``BEGIN IMMEDIATE``, where a writer takes the lock in WAL
mode, tries again after ``FIRST_PAUSE_SECONDS``, doubling up to
``MAX_PAUSE_SECONDS``, within the same busy timeout. Every other statement
keeps SQLite's handler (a reader meets a busy file only in rare moments,
such as another connection's recovery of the WAL).
"""

from __future__ import annotations

import sqlite3
import time

import peewee
from peewee import SqliteDatabase

FIRST_PAUSE_SECONDS = 0.0002
MAX_PAUSE_SECONDS = 0.002


class ShortWaitSqliteDatabase(SqliteDatabase):
    """``SqliteDatabase`` whose ``BEGIN IMMEDIATE`` waits for the write lock in short steps."""

    def __init__(self, database: str, busy_timeout_seconds: float, **kwargs) -> None:
        super().__init__(database, timeout=busy_timeout_seconds, **kwargs)
        self._busy_timeout_seconds = busy_timeout_seconds

    def begin(self, lock_type: str | None = None) -> None:
        if lock_type != "IMMEDIATE":
            super().begin(lock_type)
            return
        conn = self.connection()
        milliseconds = int(self._busy_timeout_seconds * 1000)
        try:
            conn.execute("PRAGMA busy_timeout = 0")  # each try answers at once
            try:
                self._begin_immediate(conn)
            finally:
                conn.execute(f"PRAGMA busy_timeout = {milliseconds}")
        except sqlite3.Error as exc:  # as Peewee's own ``begin`` raises it
            raise getattr(peewee, type(exc).__name__, peewee.DatabaseError)(exc, *exc.args) from exc

    def _begin_immediate(self, conn: sqlite3.Connection) -> None:
        deadline = None
        pause = FIRST_PAUSE_SECONDS
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                    raise
                now = time.monotonic()
                deadline = deadline or now + self._busy_timeout_seconds
                if now >= deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, MAX_PAUSE_SECONDS)
