"""The PostgreSQL server of the PostgreSQL scenarios: scratch databases and server processes.

Every stack of a PostgreSQL scenario gets its own new database, named
``bench_…``, on the server ``--pg-url`` names (``BENCH_PG_URL``, default
``DEFAULT_SERVER_URL``); it is dropped after the scenario unless ``--keep``.
The server itself is not started or stopped by the benchmark.

The server's processes are found from the postmaster: each backend's process
title names the database it serves (``postgres: 15/main: postgres bench_x
127.0.0.1(43210) idle``), which is how the CPU time of the backends serving
one stack is told apart from the rest of the cluster.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit, urlunsplit

import psutil
import psycopg2

DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432"
SERVER_URL = os.environ.get("BENCH_PG_URL", DEFAULT_SERVER_URL)
NAME_PREFIX = "bench_"  # the only databases the benchmark may create or drop
MAX_NAME_LENGTH = 63  # PostgreSQL's identifier limit
CONNECT_TIMEOUT_SECONDS = 10
# Cluster-wide helpers that do every database's I/O (WAL, checkpoints), ours included.
SHARED_PROCESS_TITLES = (
    "checkpointer",
    "background writer",
    "walwriter",
    "autovacuum launcher",
    "logical replication launcher",
    "stats collector",
    "archiver",
)

_postmaster: psutil.Process | None = None


def redact(url: str) -> str:
    """The URL without its password, for reports."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))


def database_url(server_url: str, name: str) -> str:
    return f"{server_url.rstrip('/')}/{name}"


def scratch_name(*parts: str) -> str:
    """``bench_<pid>_<parts>``, lower case, only letters, digits and underscores."""
    raw = "_".join([NAME_PREFIX.rstrip("_"), str(os.getpid()), *parts]).lower()
    return re.sub(r"[^a-z0-9_]", "_", raw)[:MAX_NAME_LENGTH]


def connect(url: str, autocommit: bool = True):
    conn = psycopg2.connect(url, connect_timeout=CONNECT_TIMEOUT_SECONDS)
    conn.autocommit = autocommit
    return conn


def _check_name(name: str) -> None:
    if not name.startswith(NAME_PREFIX) or not re.fullmatch(r"[a-z0-9_]+", name):
        raise ValueError(f"refusing to touch database {name!r}: not a bench_ scratch database")


def create_database(server_url: str, name: str) -> str:
    """A new, empty database (an old one of that name is dropped first); returns its URL."""
    _check_name(name)
    conn = connect(database_url(server_url, "postgres"))
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            cur.execute(f"CREATE DATABASE {name}")
    finally:
        conn.close()
    return database_url(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    _check_name(name)
    conn = connect(database_url(server_url, "postgres"))
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        conn.close()


def available(server_url: str) -> str | None:
    """None when the server answers, else why not."""
    try:
        connect(database_url(server_url, "postgres")).close()
    except psycopg2.Error as exc:
        return str(exc).strip()
    return None


def postmaster(server_url: str = SERVER_URL) -> psutil.Process:
    """The server's main process: the parent of any backend (found once, then cached)."""
    global _postmaster
    if _postmaster is None or not _postmaster.is_running():
        conn = connect(database_url(server_url, "postgres"))
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_backend_pid()")
                backend = psutil.Process(cur.fetchone()[0])
        finally:
            conn.close()
        _postmaster = backend.parent()
    return _postmaster


def _title(proc: psutil.Process) -> list[str]:
    """The words of a server process's title, after ``postgres: 15/main:``."""
    try:
        words = " ".join(proc.cmdline()).split()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []
    return words[2:] if words[:1] == ["postgres:"] else []


def backends(dbname: str, server_url: str = SERVER_URL) -> list[psutil.Process]:
    """The server processes serving ``dbname`` now: client backends and autovacuum workers."""
    try:
        children = postmaster(server_url).children()
    except psutil.NoSuchProcess:
        return []
    return [proc for proc in children if dbname in _title(proc)]


def is_bench_or_shared(proc: psutil.Process) -> bool:
    """A server process that works for the benchmark: a backend of a ``bench_`` database,
    a cluster-wide helper, or the postmaster. Used to keep them out of "other load"."""
    try:
        argv = proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    if argv[:1] and argv[0].endswith("/postgres"):
        # The postmaster: its "children" CPU time is that of every backend it reaped,
        # the benchmark's short-lived connections included.
        return True
    words = _title(proc)
    if not words:
        return False
    if any(word.startswith(NAME_PREFIX) for word in words):
        return True
    return " ".join(words).strip() in SHARED_PROCESS_TITLES


def version(server_url: str = SERVER_URL) -> str:
    try:
        conn = connect(database_url(server_url, "postgres"))
    except psycopg2.Error:
        return "not reachable"
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW server_version")
            return cur.fetchone()[0]
    finally:
        conn.close()
