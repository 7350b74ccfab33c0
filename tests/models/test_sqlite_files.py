"""``DatabaseFiles``: the SQLite files this process holds open, checked against the
paths on disk at every commit, found wrong at the first check after they go wrong,
and cheap while they are right."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from models import sqlite_files
from models.sqlite_files import DatabaseFiles


@pytest.fixture
def database(tmp_path: Path, monkeypatch) -> Iterator[tuple[Path, DatabaseFiles]]:
    """A WAL database with a committed row, held open, and its files' checker; no rescan
    of the process's descriptors during a test unless it asks for one."""
    monkeypatch.setattr(sqlite_files, "RESCAN_SECONDS", 3600.0)
    path = tmp_path / "tasks.db"
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=wal")
    connection.execute("CREATE TABLE t (x)")
    connection.execute("INSERT INTO t VALUES (1)")
    connection.commit()
    try:
        yield path, DatabaseFiles(str(path))
    finally:
        connection.close()


def test_files_that_are_right_have_no_problem(database):
    path, files = database
    assert files.problem() is None
    assert files.problem() is None


def test_a_wal_deleted_after_a_check_that_found_it_right_is_found_at_the_next_check(database):
    path, files = database
    assert files.problem() is None
    os.unlink(f"{path}-wal")
    problem = files.problem()
    assert problem is not None and "-wal" in problem and "deleted while open" in problem


def test_a_database_file_replaced_after_a_check_is_found_at_the_next_check(database):
    path, files = database
    assert files.problem() is None
    shutil.copy(path, path.with_name("restored.db"))
    os.replace(path.with_name("restored.db"), path)
    problem = files.problem()
    assert problem is not None and "replaced while open" in problem


def test_checks_while_the_files_are_right_read_no_descriptor(database, monkeypatch):
    path, files = database
    assert files.problem() is None  # the descriptors are looked up once
    reads: list[str] = []
    readlink = os.readlink

    def counted(link, *args, **kwargs):
        reads.append(str(link))
        return readlink(link, *args, **kwargs)

    monkeypatch.setattr(os, "readlink", counted)
    for _ in range(3):
        assert files.problem() is None
    assert reads == []
    # and once a file is replaced, they are looked up again
    shutil.copy(path, path.with_name("restored.db"))
    os.replace(path.with_name("restored.db"), path)
    assert "replaced while open" in (files.problem() or "")
    assert reads
