"""The results table that the Huey and Celery tasks write, one commit per task.

It plays the part of our ``tasks`` table's ``completed`` rows: a row here
means the task ran and its outcome is on disk. On SQLite (``where`` is a
file): WAL with ``synchronous=FULL``, the same durability our service uses.
On PostgreSQL (``where`` is a ``postgresql://`` URL, the stack's scratch
database, in the PostgreSQL scenarios): an autocommit insert with the
server's ``synchronous_commit``, as our service's commits there.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import orjson

BUSY_TIMEOUT_SECONDS = 30.0
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS results ("
    "id TEXT PRIMARY KEY, action TEXT NOT NULL, status TEXT NOT NULL, "
    "result TEXT, processed_at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS results_processed ON results (processed_at)",
    "CREATE INDEX IF NOT EXISTS results_status ON results (status, processed_at)",
)
COLUMNS = ("id", "action", "status", "result", "processed_at")

_local = threading.local()


def _is_pg(where: str | Path) -> bool:
    return isinstance(where, str) and where.startswith("postgres")


def connect(path: str | Path):
    if _is_pg(path):
        from bench import pg

        return pg.connect(path)
    conn = sqlite3.connect(
        str(path), timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
    )
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


def create(path: str | Path) -> None:
    conn = connect(path)
    for sql in SCHEMA:
        if _is_pg(path):
            with conn.cursor() as cur:
                cur.execute(sql.replace("REAL", "DOUBLE PRECISION"))
        else:
            conn.execute(sql)
    conn.close()


def _conn(path: str) -> sqlite3.Connection:
    conns = getattr(_local, "conns", None)
    if conns is None:
        conns = _local.conns = {}
    if path not in conns:
        conns[path] = connect(path)
    return conns[path]


def record(path: str, task_id: str, action: str, result: Any) -> None:
    """Store one completed task; committed when this returns (autocommit)."""
    values = (task_id, action, orjson.dumps(result).decode(), time.time())
    if _is_pg(path):
        with _conn(path).cursor() as cur:
            cur.execute(
                "INSERT INTO results (id, action, status, result, processed_at) "
                "VALUES (%s, %s, 'completed', %s, %s) ON CONFLICT (id) DO UPDATE "
                "SET result = excluded.result, processed_at = excluded.processed_at",
                values,
            )
        return
    _conn(path).execute(
        "INSERT OR REPLACE INTO results (id, action, status, result, processed_at) "
        "VALUES (?, ?, 'completed', ?, ?)",
        values,
    )


def list_results(path: str, status: str | None, limit: int) -> list[dict[str, Any]]:
    """Newest first, like GET /tasks of our service."""
    if status is None:
        sql, params = "SELECT * FROM results ORDER BY processed_at DESC LIMIT ?", (limit,)
    else:
        sql = "SELECT * FROM results WHERE status = ? ORDER BY processed_at DESC LIMIT ?"
        params = (status, limit)
    if _is_pg(path):
        with _conn(path).cursor() as cur:
            cur.execute(sql.replace("?", "%s"), params)
            rows = cur.fetchall()
    else:
        rows = _conn(path).execute(sql, params).fetchall()
    tasks = []
    for row in rows:
        task = dict(zip(COLUMNS, row, strict=True))
        task["result"] = orjson.Fragment(task["result"]) if task["result"] else None
        tasks.append(task)
    return tasks
