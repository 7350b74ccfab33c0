"""Opening stores by URL."""

from __future__ import annotations

import pytest

import models


def test_a_logged_url_never_shows_the_password():
    assert (
        models.redact("postgresql://app:s3cret@db:5432/tasks")
        == "postgresql://app:***@db:5432/tasks"
    )
    assert models.redact("sqlite:///data/tasks.db") == "sqlite:///data/tasks.db"


def test_unknown_schemes_and_bare_sqlite_urls_are_refused():
    with pytest.raises(ValueError, match="unsupported database URL"):
        models.open_store("mysql://root@localhost/x")
    with pytest.raises(ValueError, match="sqlite:///path"):
        models.open_store("sqlite://")


def test_the_sqlite_folder_is_created_and_wal_is_on(tmp_path):
    store = models.open_store(f"sqlite:///{tmp_path}/new/folder/tasks.db")
    store.migrate()
    assert (tmp_path / "new" / "folder" / "tasks.db").exists()
    assert store.db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute_sql("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    store.close()
