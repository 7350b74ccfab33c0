"""A SQLite writer whose write lock another process holds tries again in short steps
until the lock is free, and gives up with the database's error after the busy timeout.

The other process is a connection of SQLite's own here, holding ``BEGIN
IMMEDIATE``: SQLite's locks are per connection, so to the store it is
another process; this process's writers take turns on a Python lock first.
"""

from __future__ import annotations

import sqlite3
import threading
import time

import peewee
import pytest

import models
from models import sqlite_lock_wait


class _Pauses:
    """Stands in for ``time`` in the module: records its pauses, and tells of the first."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self.first = threading.Event()

    def sleep(self, seconds: float) -> None:
        """Records the pause without taking it: the writer tries again at once, and the
        test waits on ``first``, not on time passing."""
        self.seconds.append(seconds)
        self.first.set()

    monotonic = staticmethod(time.monotonic)


@pytest.fixture
def pauses(monkeypatch) -> _Pauses:
    counted = _Pauses()
    monkeypatch.setattr(sqlite_lock_wait, "time", counted)
    return counted


@pytest.fixture
def db_file(tmp_path):
    path = tmp_path / "tasks.db"
    store = models.open_store(f"sqlite:///{path}")
    store.migrate()
    store.close()
    return path


def _holder(path) -> sqlite3.Connection:
    """Another writer on the file, holding its write lock."""
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    return other


def _with_the_lock_held_until_tried(db_file, pauses, work) -> list[BaseException]:
    """Runs ``work`` in a thread while another process holds the write lock, which that
    process lets go (commits) once ``work`` has found it taken; returns what it raised."""
    other = _holder(db_file)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert pauses.first.wait(10), "the writer never found the lock taken"
        other.execute("COMMIT")
        thread.join(10)
        assert not thread.is_alive()
    finally:
        other.close()
    return errors


def test_a_writer_waits_for_another_process_lock_and_then_commits(db_file, pauses):
    # Given: another process holds the write lock
    store = models.open_store(f"sqlite:///{db_file}")
    row = models.new_task("job", {})
    try:
        # When: the store writes, and the other process commits once the store tried
        errors = _with_the_lock_held_until_tried(db_file, pauses, lambda: store.enqueue([row]))
        # Then: the write went through as soon as the lock was free, and is stored
        assert errors == []
        assert store.get_task(row["id"])["status"] == "queued"
    finally:
        store.close()


def test_a_writer_gives_up_after_the_busy_timeout_with_the_database_error(db_file, pauses):
    # Given: another process holds the write lock for longer than the busy timeout
    other = _holder(db_file)
    store = models.open_store(f"sqlite:///{db_file}", busy_timeout_seconds=0.05)
    try:
        # When: the store writes
        with pytest.raises(peewee.OperationalError, match="locked"):
            store.enqueue([models.new_task("job", {})])
        # Then: it tried again in short steps, 0.2 ms doubling up to 2 ms, before giving
        # up; and nothing was stored
        assert len(pauses.seconds) >= 5
        assert pauses.seconds[:4] == [0.0002, 0.0004, 0.0008, 0.0016]
        assert set(pauses.seconds[4:]) == {0.002}
        other.execute("ROLLBACK")
        assert store.list_tasks() == []
    finally:
        other.close()
        store.close()


def test_after_a_wait_other_statements_keep_the_busy_timeout(db_file, pauses):
    # Given: a write that had to wait for another process's lock
    store = models.open_store(f"sqlite:///{db_file}", busy_timeout_seconds=3.0)
    read_back: list[int] = []

    def write_then_read() -> None:
        store.enqueue([models.new_task("job", {})])
        # When: its connection's busy timeout is read back (connections are per thread)
        read_back.append(store.db.execute_sql("PRAGMA busy_timeout").fetchone()[0])

    try:
        errors = _with_the_lock_held_until_tried(db_file, pauses, write_then_read)
        # Then: it is the store's own again, not the zero used for each try
        assert errors == []
        assert read_back == [3000]
    finally:
        store.close()
