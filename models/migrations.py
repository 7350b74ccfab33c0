"""Versioned schema migrations, applied in order and recorded in ``schema_version``.

Each migration is a function of the store, run in one transaction with its
version row, so a migration is applied completely or not at all. The
store's migration lock lets several nodes start at once against one
database: the first applies the migrations, the others find them done.
Later schema changes are appended to ``MIGRATIONS`` and upgrade existing
databases in place. A migration is history: it never changes once
released, and it names the statuses of its own time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .errors import MigrationError
from .statuses import Status

if TYPE_CHECKING:
    from .store import Store


def _create_tasks(store: Store) -> None:
    """Version 1: the reference's columns, plus what durability needs."""
    big, real = store.big_integer_type, store.real_type
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
        store.db.execute_sql(sql)


_STATUSES_V2 = (Status.QUEUED, Status.RUNNING, Status.RETRYING, Status.COMPLETED, Status.DEAD)


def _check_statuses(store: Store) -> None:
    """Version 2: the database refuses an unknown status, and the default is a real
    one (``queued``, not the reference's unused ``pending``); failures keep the last
    frames of their traceback; the leader lease has a row to live in on SQLite."""
    store.set_status_check(_STATUSES_V2, default=Status.QUEUED)
    store.db.execute_sql("ALTER TABLE tasks ADD COLUMN traceback TEXT")
    store.db.execute_sql(
        f"CREATE TABLE leader (name TEXT PRIMARY KEY, holder TEXT NOT NULL, "
        f"expires_at {store.real_type} NOT NULL)"
    )


_STATUSES_V3 = (
    Status.SCHEDULED,
    Status.QUEUED,
    Status.RUNNING,
    Status.RETRYING,
    Status.COMPLETED,
    Status.DEAD,
    Status.CANCELED,
)


def _control(store: Store) -> None:
    """Version 3: delay, priority, queues, timeouts, cancel and retry.

    The due index leads with the queue and orders by priority, so a claim
    reads each served queue's best tasks straight off it; delayed tasks
    wait in an index of their own until they are due.
    """
    big, real = store.big_integer_type, store.real_type
    for sql in (
        "ALTER TABLE tasks ADD COLUMN priority INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE tasks ADD COLUMN queue TEXT NOT NULL DEFAULT 'default'",
        "ALTER TABLE tasks ADD COLUMN max_attempts INTEGER",
        "ALTER TABLE tasks ADD COLUMN attempt_budget INTEGER",
        f"ALTER TABLE tasks ADD COLUMN timeout_seconds {real}",
        "ALTER TABLE tasks ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE tasks ADD COLUMN progress TEXT",
    ):
        store.db.execute_sql(sql)
    store.set_status_check(_STATUSES_V3, default=Status.QUEUED)
    for sql in (
        "DROP INDEX tasks_due",
        "CREATE INDEX tasks_due ON tasks (queue, priority, run_at, enqueued_ns) "
        "WHERE status IN ('queued', 'retrying')",
        "CREATE INDEX tasks_scheduled ON tasks (run_at) WHERE status = 'scheduled'",
        "CREATE INDEX tasks_cancel_requested ON tasks (lease_owner) "
        "WHERE status = 'running' AND cancel_requested = 1",
        "CREATE TABLE queues (name TEXT PRIMARY KEY, paused INTEGER NOT NULL DEFAULT 0, "
        f"paused_at {real}, paused_by TEXT)",
        "INSERT INTO queues (name) SELECT DISTINCT queue FROM tasks",
        f"CREATE TABLE task_events (id {store.serial_type} PRIMARY KEY, task_id TEXT NOT NULL, "
        f"at {real} NOT NULL, kind TEXT NOT NULL, detail TEXT)",
        "CREATE INDEX task_events_task ON task_events (task_id, id)",
        # Finished tasks counted as they finish, per node (no row two nodes write),
        # so that counting a queue never scans the finished tasks.
        f"CREATE TABLE finished_counts (queue TEXT NOT NULL, status TEXT NOT NULL, "
        f"node TEXT NOT NULL, count {big} NOT NULL, PRIMARY KEY (queue, status, node))",
        "INSERT INTO finished_counts (queue, status, node, count) "
        "SELECT queue, status, '', COUNT(*) FROM tasks "
        "WHERE status IN ('completed', 'dead', 'canceled') GROUP BY queue, status",
    ):
        store.db.execute_sql(sql)


def _history(store: Store) -> None:
    """Version 4: idempotency keys, listings by queue and action, nodes, queue history.

    A key is unique among the tasks that have one (a partial unique index, so
    the many tasks without a key cost it nothing). Listings read an index for
    each filter, led by the filter and then the status, so that a page of any
    one status is a range of it.
    """
    big, real = store.big_integer_type, store.real_type
    for sql in (
        "ALTER TABLE tasks ADD COLUMN idempotency_key TEXT",
        "ALTER TABLE tasks ADD COLUMN request_hash TEXT",
        "CREATE UNIQUE INDEX tasks_idempotency_key ON tasks (idempotency_key) "
        "WHERE idempotency_key IS NOT NULL",
        "CREATE INDEX tasks_queue_created ON tasks (queue, status, created_at, enqueued_ns)",
        "CREATE INDEX tasks_action_created ON tasks (action, status, created_at, enqueued_ns)",
        f"CREATE TABLE nodes (owner TEXT PRIMARY KEY, name TEXT NOT NULL, "
        f"version TEXT NOT NULL, queues TEXT, workers INTEGER NOT NULL, "
        f"busy INTEGER NOT NULL, started_at {real} NOT NULL, last_seen {real} NOT NULL, "
        f"draining INTEGER NOT NULL DEFAULT 0, completed_per_minute {real} NOT NULL DEFAULT 0)",
        f"CREATE TABLE queue_events (id {store.serial_type} PRIMARY KEY, queue TEXT NOT NULL, "
        f"at {real} NOT NULL, kind TEXT NOT NULL, by TEXT)",
        "CREATE INDEX queue_events_queue ON queue_events (queue, at)",
        f"CREATE TABLE minute_stats (minute {big} NOT NULL, node TEXT NOT NULL, "
        f"completed {big} NOT NULL DEFAULT 0, failed {big} NOT NULL DEFAULT 0, "
        f"dead {big} NOT NULL DEFAULT 0, wait_sum {real} NOT NULL DEFAULT 0, "
        f"wait_count {big} NOT NULL DEFAULT 0, wait_max {real} NOT NULL DEFAULT 0, "
        f"PRIMARY KEY (minute, node))",
    ):
        store.db.execute_sql(sql)


def _upkeep(store: Store) -> None:
    """Version 5: periodic schedules, retention, completion webhooks.

    Finished tasks are pruned by the time they finished, read off a partial
    index that holds only finished rows (a queued task costs it nothing). A
    delivery is a row written with its task's final transition; the due
    index holds only those still pending, so the delivery service's claim
    stops after LIMIT rows whatever the history. Each try is logged.
    """
    real, serial = store.real_type, store.serial_type
    for sql in (
        "ALTER TABLE tasks ADD COLUMN notify_url TEXT",
        "CREATE INDEX tasks_finished ON tasks (status, processed_at) "
        "WHERE status IN ('completed', 'dead', 'canceled')",
        f"CREATE TABLE schedules (name TEXT PRIMARY KEY, cron TEXT NOT NULL, "
        f"timezone TEXT NOT NULL, task TEXT NOT NULL, enabled INTEGER NOT NULL, "
        f"catch_up TEXT NOT NULL, source TEXT NOT NULL, next_fire_at {real}, "
        f"last_fire_at {real}, last_task_id TEXT, created_at {real} NOT NULL, "
        f"updated_at {real} NOT NULL)",
        "CREATE INDEX schedules_due ON schedules (next_fire_at) WHERE enabled = 1",
        f"CREATE TABLE webhook_deliveries (id {serial} PRIMARY KEY, task_id TEXT NOT NULL, "
        f"url TEXT NOT NULL, event TEXT NOT NULL, state TEXT NOT NULL, "
        f"tries INTEGER NOT NULL DEFAULT 0, created_at {real} NOT NULL, "
        f"next_try_at {real} NOT NULL, lease_token TEXT, body TEXT, finished_at {real}, "
        f"CHECK (state IN ('pending', 'delivered', 'failed', 'gone')))",
        "CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_try_at) "
        "WHERE state = 'pending'",
        "CREATE INDEX webhook_deliveries_task ON webhook_deliveries (task_id, id)",
        f"CREATE TABLE webhook_tries (id {serial} PRIMARY KEY, delivery_id BIGINT NOT NULL, "
        f"task_id TEXT NOT NULL, at {real} NOT NULL, status_code INTEGER, "
        f"latency_ms {real} NOT NULL, error TEXT)",
        "CREATE INDEX webhook_tries_task ON webhook_tries (task_id, id)",
    ):
        store.db.execute_sql(sql)


def _listing_by_status(store: Store) -> None:
    """Version 6: where listings are read by status alone, ``tasks_created`` goes.

    With most rows of one status, PostgreSQL's planner read the index on
    creation time newest first for a page of that status and filtered it,
    stepping over every newer row of the other statuses (100,000 queued
    rows: 15 ms a page). There, a page with no filter is now read as one
    range per status too, and the index served nothing else. SQLite pins
    each query to its index and keeps it (``pages_by_creation_index``).
    """
    if not store.pages_by_creation_index:
        store.db.execute_sql("DROP INDEX tasks_created")


MIGRATIONS: list[tuple[int, str, Callable[[Store], None]]] = [
    (1, "create tasks", _create_tasks),
    (2, "status check, traceback, leader", _check_statuses),
    (3, "delay, priority, queues, timeouts, cancel", _control),
    (4, "idempotency keys, listings, nodes, history", _history),
    (5, "schedules, retention, webhooks", _upkeep),
    (6, "listings read by status", _listing_by_status),
]

LATEST_VERSION = MIGRATIONS[-1][0]


def _applied_versions(store: Store) -> set[int]:
    cursor = store.db.execute_sql("SELECT version FROM schema_version")
    return {row[0] for row in cursor.fetchall()}


def migrate(store: Store) -> list[int]:
    """Apply every pending migration; return the versions applied now.

    Safe to run twice and from several processes at once. Raises
    ``MigrationError`` with the reason when the schema cannot be brought up to
    date; the database is then left at the last complete version.
    """
    applied_now: list[int] = []
    db = store.db
    try:
        db.connect(reuse_if_open=True)
        with store.migration_lock():
            with store.migration_step():
                db.execute_sql(
                    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
                    "name TEXT NOT NULL, applied_at REAL NOT NULL)"
                )
            for version, name, apply in MIGRATIONS:
                with store.migration_step():
                    if version in _applied_versions(store):
                        continue
                    apply(store)
                    db.execute_sql(
                        f"INSERT INTO schema_version (version, name, applied_at) "
                        f"VALUES ({db.param}, {db.param}, {db.param})",
                        (version, name, time.time()),
                    )
                applied_now.append(version)
            newest = max(_applied_versions(store), default=0)
    except Exception as exc:  # noqa: BLE001 - whatever it was, the service must not start
        raise MigrationError(f"migration failed: {type(exc).__name__}: {exc}") from exc
    if newest > LATEST_VERSION:
        raise MigrationError(
            f"database schema is version {newest}, newer than this code ({LATEST_VERSION})"
        )
    return applied_now
