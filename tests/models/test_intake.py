"""Group commit and backpressure at the door."""

from __future__ import annotations

import threading

import pytest

import models


def test_concurrent_accepts_are_all_stored_in_fewer_commits(db):
    intake = models.Intake()
    start = threading.Barrier(16)
    accepted: list[str] = []
    lock = threading.Lock()

    def client() -> None:
        start.wait()
        for _ in range(25):
            row = models.new_task("x", {})
            intake.accept([row])  # returns only once the row is committed
            with lock:
                accepted.append(row["id"])
        models.database.obj.close()

    threads = [threading.Thread(target=client) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    intake.close()
    stored = {row[0] for row in models.list_tasks(limit=1000)}
    assert len(accepted) == 400
    assert stored == set(accepted)
    assert intake.commits < 400


def test_a_failed_commit_is_reported_to_every_waiter(db):
    intake = models.Intake()
    row = models.new_task("x", {})
    intake.accept([row])
    # The same id again violates the primary key: the whole group fails, nothing is half-stored
    with pytest.raises(models.Unavailable, match="database unavailable"):
        intake.accept([models.new_task("y", {}), row])
    intake.close()
    assert models.count_by_status()["queued"] == 1


def test_max_queued_refuses_past_the_cap_until_the_backlog_drains(db):
    now = [0.0]
    intake = models.Intake(max_queued=5, clock=lambda: now[0])
    intake.accept([models.new_task("x", {}) for _ in range(3)])
    intake.accept([models.new_task("x", {}) for _ in range(2)])
    with pytest.raises(models.Unavailable, match="queue full") as refused:
        intake.accept([models.new_task("x", {})])
    assert refused.value.retry_after_seconds >= 1
    assert models.count_backlog() == 5
    # When workers claim three, the next recount lets three more in
    models.claim("h:1", "n", 3, 2e9, 30)
    now[0] += 1
    intake.accept([models.new_task("x", {}) for _ in range(3)])
    with pytest.raises(models.Unavailable, match="queue full"):
        intake.accept([models.new_task("x", {})])
    intake.close()
    assert models.count_backlog() == 5
