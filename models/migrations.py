"""Versioned schema migrations, applied in order and recorded in ``schema_version``.

Each migration is a function of the database, run in one transaction with
its version row, so a migration is applied completely or not at all. A
process-wide lock (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on
PostgreSQL) lets several nodes start at once against one database: the first
applies the migrations, the others find them done. Later schema changes are
appended to ``MIGRATIONS`` and upgrade existing databases in place.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from peewee import Database

from .database import is_postgresql
from .errors import MigrationError

# Any constant both nodes agree on; it names the advisory lock on PostgreSQL.
PG_MIGRATION_LOCK_KEY = 0x7A51_0001


def _create_tasks(db: Database) -> None:
    """Version 1: the reference's columns, plus what durability needs."""
    big = "BIGINT" if is_postgresql(db) else "INTEGER"
    real = "DOUBLE PRECISION" if is_postgresql(db) else "REAL"
    statements = [
        f"""CREATE TABLE tasks (
            id TEXT PRIMARY KEY,
            payload TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            result TEXT,
            created_at {big} NOT NULL,
            processed_at {big},
            action TEXT NOT NULL,
            error TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            enqueued_ns {big} NOT NULL,
            run_at {real} NOT NULL,
            lease_owner TEXT,
            lease_expires_at {real},
            node TEXT,
            claim_token TEXT
        )""",
        # GET /tasks: newest first, optionally by status.
        "CREATE INDEX tasks_created ON tasks (created_at, enqueued_ns)",
        "CREATE INDEX tasks_status_created ON tasks (status, created_at, enqueued_ns)",
        # Claims read due tasks in run_at order; the partial index holds only
        # claimable rows, so a claim stops after LIMIT rows whatever the backlog.
        "CREATE INDEX tasks_due ON tasks (run_at, enqueued_ns) "
        "WHERE status IN ('queued', 'retrying')",
        # Rescue finds expired leases without scanning finished tasks.
        "CREATE INDEX tasks_leased ON tasks (lease_expires_at) WHERE status = 'running'",
    ]
    for sql in statements:
        db.execute_sql(sql)


MIGRATIONS: list[tuple[int, str, Callable[[Database], None]]] = [
    (1, "create tasks", _create_tasks),
]

LATEST_VERSION = MIGRATIONS[-1][0]


def _applied_versions(db: Database) -> set[int]:
    cursor = db.execute_sql("SELECT version FROM schema_version")
    return {row[0] for row in cursor.fetchall()}


def migrate(db: Database) -> list[int]:
    """Apply every pending migration; return the versions applied now.

    Safe to run twice and from several processes at once. Raises
    ``MigrationError`` with the reason when the schema cannot be brought up to
    date; the database is then left at the last complete version.
    """
    applied_now: list[int] = []
    try:
        db.connect(reuse_if_open=True)
        with _exclusive(db):
            with _transaction(db):
                db.execute_sql(
                    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
                    "name TEXT NOT NULL, applied_at REAL NOT NULL)"
                )
            for version, name, apply in MIGRATIONS:
                with _transaction(db):
                    if version in _applied_versions(db):
                        continue
                    apply(db)
                    db.execute_sql(
                        f"INSERT INTO schema_version (version, name, applied_at) "
                        f"VALUES ({db.param}, {db.param}, {db.param})",
                        (version, name, time.time()),
                    )
                applied_now.append(version)
            newest = max(_applied_versions(db), default=0)
    except Exception as exc:
        raise MigrationError(f"migration failed: {type(exc).__name__}: {exc}") from exc
    if newest > LATEST_VERSION:
        raise MigrationError(
            f"database schema is version {newest}, newer than this code ({LATEST_VERSION})"
        )
    return applied_now


@contextmanager
def _exclusive(db: Database) -> Iterator[None]:
    """Keep other migrating processes out for the whole run.

    PostgreSQL: a session advisory lock (its catalogue races even on
    ``CREATE TABLE IF NOT EXISTS``). SQLite: each step's ``BEGIN IMMEDIATE``
    already serialises writers, so nothing more is needed.
    """
    if not is_postgresql(db):
        yield
        return
    db.execute_sql("SELECT pg_advisory_lock(%s)", (PG_MIGRATION_LOCK_KEY,))
    try:
        yield
    finally:
        db.execute_sql("SELECT pg_advisory_unlock(%s)", (PG_MIGRATION_LOCK_KEY,))


def _transaction(db: Database):
    """One migration step: all of it or none of it."""
    if is_postgresql(db):
        return db.atomic()
    return db.atomic(lock_type="IMMEDIATE")
