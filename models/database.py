"""Open the database a URL names, and the proxy every model is bound to.

SQLite (the default) runs in WAL mode with ``synchronous=FULL``: a commit is
on disk when it returns, so it survives both kill -9 and power loss. A busy
timeout makes writers wait for each other instead of failing with
"database is locked".
"""

from __future__ import annotations

import os

from peewee import Database, DatabaseProxy, PostgresqlDatabase, SqliteDatabase
from playhouse.db_url import parse

DEFAULT_DB_URL = "sqlite:///data/tasks.db"
SQLITE_BUSY_TIMEOUT_SECONDS = 5.0
SQLITE_SYNCHRONOUS = "FULL"

database = DatabaseProxy()


def open_database(url: str) -> Database:
    """Build (but do not connect) the database for ``url`` and bind the models to it.

    ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` and
    ``postgresql://user@host:port/dbname`` are understood. The folder of a
    SQLite file is created if it is missing.
    """
    scheme = url.partition("://")[0]
    if scheme == "sqlite":
        path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else ""
        if not path:
            raise ValueError(f"expected sqlite:///path/to/file.db, got {url!r}")
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        db: Database = SqliteDatabase(
            path,
            timeout=SQLITE_BUSY_TIMEOUT_SECONDS,
            returning_clause=True,
            pragmas={
                "journal_mode": "wal",
                "synchronous": SQLITE_SYNCHRONOUS,
                "busy_timeout": int(SQLITE_BUSY_TIMEOUT_SECONDS * 1000),
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


def is_postgresql(db: Database) -> bool:
    return isinstance(db, PostgresqlDatabase)
