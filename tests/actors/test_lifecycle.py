"""Stopping the actor system, by any route, stops every thread and closes every connection."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pykka
import pytest

import models
from actors import Boot, QueueConfig, Supervisor, Tick, Wake
from tests.web.client import wait_for

from .helpers import WAIT_SECONDS, Latch, flush_workers, registry_with

OUR_THREADS = ("ticker", "wake-listener", "Supervisor", "Dispatcher", "Worker", "Rescuer", "Leader")


def our_threads() -> list[str]:
    return sorted(t.name for t in threading.enumerate() if t.name.startswith(OUR_THREADS))


def open_connections(store: models.Store, db_url: str, observer) -> int:
    """Connections to the database this process holds, other than the observer's."""
    if db_url.startswith("sqlite"):
        path = Path(db_url.removeprefix("sqlite:///")).resolve()
        return sum(
            1 for fd in os.listdir("/proc/self/fd") if _link(f"/proc/self/fd/{fd}") == str(path)
        )
    cursor = observer.cursor()
    cursor.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid()"
    )
    return cursor.fetchone()[0]


def _link(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


@pytest.fixture
def observer(db_url):
    """A connection of the test's own, outside the store, to count the others."""
    if db_url.startswith("sqlite"):
        yield None
        return
    import psycopg2
    from playhouse.db_url import parse

    params = parse(db_url)
    connection = psycopg2.connect(dbname=params.pop("database"), **params)
    connection.autocommit = True
    yield connection
    connection.close()


def boot_running_system(store) -> tuple[pykka.ActorRef, object]:
    ran = Latch()
    registry = registry_with(job=lambda data: ran.hit() or {})
    config = QueueConfig(workers=2, simulated_work_seconds=0, poll_interval_seconds=0.05)
    supervisor = Supervisor.start(config, registry, store)  # with the ticker
    service = supervisor.ask(Boot(), timeout=WAIT_SECONDS)
    store.enqueue([models.new_task("job", {}) for _ in range(5)])
    service.dispatcher.tell(Wake())
    ran.wait(5)
    flush_workers()
    service.rescuer.ask(Tick(time.time()))  # every actor has used its connection
    service.elector.ask(Tick(time.time()))
    if service.listener is not None:
        assert service.listener.listening.wait(WAIT_SECONDS)
    return supervisor, service


@pytest.mark.parametrize("route", ["supervisor.stop", "ActorRegistry.stop_all"])
def test_stopping_leaves_no_thread_and_no_connection(db_url, observer, route):
    # Given a running system that has used every connection it opens
    store = models.open_store(db_url)
    before_threads = our_threads()
    supervisor, service = boot_running_system(store)
    store.close()  # this (test) thread's own
    assert open_connections(store, db_url, observer) > 0
    assert len(our_threads()) > len(before_threads)
    # When it is stopped by that route
    if route == "supervisor.stop":
        supervisor.stop()
    else:
        pykka.ActorRegistry.stop_all()
    # Then every thread it started has ended, and no connection is left open (a server
    # ends a backend just after its client closes)
    wait_for(
        lambda: our_threads() == before_threads,
        WAIT_SECONDS,
        lambda: f"only the threads there before, {before_threads}; last seen: {our_threads()}",
    )
    wait_for(
        lambda: open_connections(store, db_url, observer) == 0,
        WAIT_SECONDS,
        lambda: f"no connection left; last seen: {open_connections(store, db_url, observer)}",
    )
