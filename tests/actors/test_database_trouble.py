"""When the database refuses writes for a while, the actors wait it out instead of dying."""

from __future__ import annotations

import sqlite3
import threading

import pykka

import models
from actors import Boot, Dispatcher, QueueConfig, Supervisor, Wake, Worker

from .helpers import WAIT_SECONDS, Latch, flush_workers, registry_with


def test_a_locked_database_delays_the_commit_and_loses_nothing(tmp_path, caplog):
    # Given a service on a SQLite file whose writers give up after 0.2 s
    path = tmp_path / "tasks.db"
    store = models.open_store(f"sqlite:///{path}", busy_timeout_seconds=0.2)
    gate = threading.Event()
    started = Latch()
    ran = Latch()

    def job(data):
        started.hit()
        gate.wait(WAIT_SECONDS)
        ran.hit()
        return {"n": data["n"]}

    config = QueueConfig(workers=1, simulated_work_seconds=0, owner="test:1")
    supervisor = Supervisor.start(config, registry_with(job=job), store, start_ticker=False)
    service = supervisor.ask(Boot(), timeout=WAIT_SECONDS)
    task_id = models.new_task("job", {"n": 1})
    store.enqueue([task_id])
    service.dispatcher.tell(Wake())

    # When another process holds the write lock while the task finishes
    started.wait(1)
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    gate.set()
    ran.wait(1)
    flush_workers()  # this commit fails: the lock is held
    assert "commit failed outcomes=1" in caplog.text
    assert store.get_task(task_id["id"])["status"] == "running"  # kept, not lost
    caplog.clear()

    # Then once the lock is gone, the dispatcher commits the outcome it kept
    locker.execute("ROLLBACK")
    locker.close()
    flush_workers()
    task = store.get_task(task_id["id"])
    assert (task["status"], task["attempts"]) == ("completed", 1)
    assert "worker restarted" not in caplog.text
    [worker] = pykka.ActorRegistry.get_by_class(Worker)
    [dispatcher] = pykka.ActorRegistry.get_by_class(Dispatcher)
    assert worker.is_alive() and dispatcher.is_alive()
    store.close()
