"""Versioned migrations: idempotent, concurrent-safe, upgrading in place, and failing loudly."""

from __future__ import annotations

import threading

import pytest

import models
from models import migrations

LATEST = list(range(1, models.LATEST_VERSION + 1))


def test_migrate_creates_the_reference_columns_and_is_idempotent(db_url):
    store = models.open_store(db_url)
    assert store.migrate() == LATEST
    assert store.migrate() == []
    columns = {column.name for column in store.db.get_columns("tasks")}
    assert {"id", "payload", "status", "result", "created_at", "processed_at"} <= columns
    assert {
        "action",
        "error",
        "traceback",
        "attempts",
        "lease_owner",
        "lease_expires_at",
    } <= columns
    store.close()


def test_concurrent_migrations_apply_once(db_url):
    store = models.open_store(db_url)
    results: list[list[int]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def run() -> None:
        start.wait()
        try:
            results.append(store.migrate())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    # Each version was applied by exactly one of them
    assert sorted(version for applied in results for version in applied) == LATEST


V1_COLUMNS = (
    "id",
    "payload",
    "status",
    "created_at",
    "action",
    "attempts",
    "enqueued_ns",
    "run_at",
)


def test_a_version_1_database_is_upgraded_in_place(db_url, monkeypatch):
    # Given a database at version 1 with tasks in it, one of them finished
    store = models.open_store(db_url)
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:1])
    monkeypatch.setattr(migrations, "LATEST_VERSION", 1)
    assert store.migrate() == [1]
    rows = [models.new_task("sum", {"numbers": [n]}) for n in range(3)]
    rows[0]["status"] = "completed"
    with store.write_transaction():
        store.insert_rows("tasks", V1_COLUMNS, [[row[c] for c in V1_COLUMNS] for row in rows])
    monkeypatch.undo()
    # When the code of today starts
    assert store.migrate() == LATEST[1:]
    # Then every task is still there as it was, with the new fields' defaults,
    # the finished one counted, and the new rules hold
    assert store.count_by_status()[models.Status.QUEUED] == 2
    assert store.count_by_status()[models.Status.COMPLETED] == 1
    old = store.get_task(rows[1]["id"])
    assert (old["status"], old["queue"], old["priority"], old["traceback"]) == (
        "queued",
        "default",
        0,
        None,
    )
    assert [queue.name for queue in store.queue_states()] == ["default"]
    indexes = {index.name for index in store.db.get_indexes("tasks")}
    assert {"tasks_due", "tasks_scheduled", "tasks_status_created", "tasks_leased"} <= indexes
    assert ("tasks_created" in indexes) == store.pages_by_creation_index  # version 6
    assert len(store.claim("h:1", "n", 10, 4e9, 30)) == 2
    with pytest.raises(models.StorageError):
        with store.write_transaction():
            store.db.execute_sql("UPDATE tasks SET status = 'pending'")
    store.close()


def test_a_later_migration_upgrades_an_existing_database(db_url, monkeypatch):
    store = models.open_store(db_url)
    store.migrate()
    store.enqueue([models.new_task("sum", {"numbers": [1]})])

    def add_priority(store):
        store.db.execute_sql("ALTER TABLE tasks ADD COLUMN extra INTEGER NOT NULL DEFAULT 0")

    later = models.LATEST_VERSION + 1
    monkeypatch.setattr(
        migrations, "MIGRATIONS", [*migrations.MIGRATIONS, (later, "x", add_priority)]
    )
    monkeypatch.setattr(migrations, "LATEST_VERSION", later)
    assert store.migrate() == [later]
    assert "extra" in {column.name for column in store.db.get_columns("tasks")}
    assert store.count_by_status()[models.Status.QUEUED] == 1
    store.close()


def test_a_failing_migration_raises_and_leaves_no_half_applied_version(db_url, monkeypatch):
    store = models.open_store(db_url)
    store.migrate()

    def broken(store):
        store.db.execute_sql("CREATE TABLE half (x INTEGER)")
        store.db.execute_sql("THIS IS NOT SQL")

    later = models.LATEST_VERSION + 1
    monkeypatch.setattr(
        migrations, "MIGRATIONS", [*migrations.MIGRATIONS, (later, "broken", broken)]
    )
    with pytest.raises(models.MigrationError, match="migration failed"):
        store.migrate()
    store.close()
    store = models.open_store(db_url)
    versions = [row[0] for row in store.db.execute_sql("SELECT version FROM schema_version")]
    assert sorted(versions) == LATEST
    assert "half" not in store.db.get_tables()
    store.close()


def test_a_database_newer_than_the_code_is_refused(db_url):
    store = models.open_store(db_url)
    store.migrate()
    store.db.execute_sql(
        "INSERT INTO schema_version (version, name, applied_at) VALUES (99, 'future', 0)"
    )
    with pytest.raises(models.MigrationError, match="newer than this code"):
        store.migrate()
    store.close()
