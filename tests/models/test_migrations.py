"""Versioned migrations: idempotent, concurrent-safe, and failing loudly."""

from __future__ import annotations

import threading

import pytest

import models
from models import migrations


def tables(db) -> set[str]:
    return set(db.get_tables())


def test_migrate_creates_the_reference_columns_and_is_idempotent(db_url):
    db = models.open_database(db_url)
    assert models.migrate(db) == [1]
    assert models.migrate(db) == []
    columns = {column.name for column in db.get_columns("tasks")}
    assert {"id", "payload", "status", "result", "created_at", "processed_at"} <= columns
    assert {"action", "error", "attempts", "lease_owner", "lease_expires_at", "node"} <= columns
    db.close()


def test_concurrent_migrations_apply_once(db_url):
    db = models.open_database(db_url)
    results: list[list[int]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def run() -> None:
        start.wait()
        try:
            results.append(models.migrate(db))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(results) == [[], [], [], [1]]


def test_a_later_migration_upgrades_an_existing_database(db_url, monkeypatch):
    db = models.open_database(db_url)
    models.migrate(db)
    models.enqueue([models.new_task("sum", {"numbers": [1]})])

    def add_priority(database):
        database.execute_sql("ALTER TABLE tasks ADD COLUMN priority INTEGER NOT NULL DEFAULT 0")

    monkeypatch.setattr(
        migrations, "MIGRATIONS", [*migrations.MIGRATIONS, (2, "priority", add_priority)]
    )
    monkeypatch.setattr(migrations, "LATEST_VERSION", 2)
    assert models.migrate(db) == [2]
    assert "priority" in {column.name for column in db.get_columns("tasks")}
    assert models.count_by_status()["queued"] == 1
    db.close()


def test_a_failing_migration_raises_and_leaves_no_half_applied_version(db_url, monkeypatch):
    db = models.open_database(db_url)
    models.migrate(db)

    def broken(database):
        database.execute_sql("CREATE TABLE half (x INTEGER)")
        database.execute_sql("THIS IS NOT SQL")

    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, (2, "broken", broken)])
    with pytest.raises(models.MigrationError, match="migration failed"):
        models.migrate(db)
    db.close()
    db = models.open_database(db_url)
    versions = [row[0] for row in db.execute_sql("SELECT version FROM schema_version")]
    assert versions == [1]
    assert "half" not in tables(db)
    db.close()


def test_a_database_newer_than_the_code_is_refused(db_url):
    db = models.open_database(db_url)
    models.migrate(db)
    db.execute_sql(
        "INSERT INTO schema_version (version, name, applied_at) VALUES (99, 'future', 0)"
    )
    with pytest.raises(models.MigrationError, match="newer than this code"):
        models.migrate(db)
    db.close()
