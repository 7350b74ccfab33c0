"""Open the store a database URL names."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from .postgres_store import open_postgresql
from .sqlite_store import SQLITE_BUSY_TIMEOUT_SECONDS, open_sqlite
from .store import Store

DEFAULT_DB_URL = "sqlite:///data/tasks.db"


def open_store(url: str, busy_timeout_seconds: float = SQLITE_BUSY_TIMEOUT_SECONDS) -> Store:
    """Build (but do not connect) the store for ``url`` and bind the models to it.

    ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` and
    ``postgresql://user@host:port/dbname`` are understood. The folder of a
    SQLite file is created if it is missing. ``busy_timeout_seconds`` is how
    long a SQLite writer waits for another process's lock before it gives up.
    Raises ``ValueError`` for any other URL.
    """
    scheme = url.partition("://")[0]
    if scheme == "sqlite":
        return open_sqlite(url, busy_timeout_seconds)
    if scheme in ("postgres", "postgresql"):
        return open_postgresql(url)
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:/// or postgresql://")


def redact(url: str) -> str:
    """The URL without its password, for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
