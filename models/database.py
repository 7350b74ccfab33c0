"""Open the database a URL names, and the proxy every model is bound to.

SQLite (the default) runs in WAL mode with ``synchronous=FULL``: a commit is
on disk when it returns, so it survives both kill -9 and power loss. A busy
timeout makes writers wait for each other instead of failing with
"database is locked".
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

from peewee import Database, DatabaseProxy, PeeweeException, PostgresqlDatabase, SqliteDatabase
from playhouse.db_url import parse

DEFAULT_DB_URL = "sqlite:///data/tasks.db"
SQLITE_BUSY_TIMEOUT_SECONDS = 5.0
SQLITE_SYNCHRONOUS = "FULL"

database = DatabaseProxy()

# What a database call raises when the database itself is in trouble (locked,
# read-only, disconnected): callers retry later rather than crash.
StorageError = PeeweeException


def open_database(url: str, busy_timeout_seconds: float = SQLITE_BUSY_TIMEOUT_SECONDS) -> Database:
    """Build (but do not connect) the database for ``url`` and bind the models to it.

    ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` and
    ``postgresql://user@host:port/dbname`` are understood. The folder of a
    SQLite file is created if it is missing. ``busy_timeout_seconds`` is how
    long a SQLite writer waits for another's lock before it gives up.
    """
    scheme = url.partition("://")[0]
    if scheme == "sqlite":
        path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else ""
        if not path:
            raise ValueError(f"expected sqlite:///path/to/file.db, got {url!r}")
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        db: Database = SqliteDatabase(
            path,
            timeout=busy_timeout_seconds,
            returning_clause=True,
            pragmas={
                "journal_mode": "wal",
                "synchronous": SQLITE_SYNCHRONOUS,
                "busy_timeout": int(busy_timeout_seconds * 1000),
            },
        )
    elif scheme in ("postgres", "postgresql"):
        params = parse(url)
        name = params.pop("database")
        db = PostgresqlDatabase(name, **params)
    else:
        raise ValueError(f"unsupported database URL {url!r}: use sqlite:/// or postgresql://")
    database.initialize(db)
    return db


def redact(url: str) -> str:
    """The URL without its password, for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def is_postgresql(db: Database) -> bool:
    return isinstance(db, PostgresqlDatabase)


_sqlite_writer = threading.Lock()


@contextmanager
def write_transaction() -> Iterator[Database]:
    """One write transaction on the current database.

    On SQLite the threads of this process first take turns on a Python lock.
    SQLite's own busy handler makes a blocked writer sleep 1, 2, 5, 10… ms
    between tries, so two of our threads writing at once (the intake, the
    dispatcher, a worker) cost the loser milliseconds; a lock hands over at
    once. Other processes on the same file still meet the busy timeout.
    """
    db = database.obj
    if is_postgresql(db):
        with db.atomic():
            yield db
        return
    with _sqlite_writer, db.atomic(lock_type="IMMEDIATE"):
        yield db


def discard_connection() -> None:
    """Drop this thread's connection after a ``StorageError``; the next call reconnects.

    A PostgreSQL connection the server closed stays broken until replaced.
    """
    try:
        database.obj.close()
    except Exception:  # noqa: BLE001 - it is being thrown away
        pass
