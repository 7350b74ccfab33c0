"""The PostgreSQL listener wakes the dispatcher when any connection commits tasks."""

from __future__ import annotations

import pytest

import models
from actors import Wake
from actors.pg_listener import PgListener

from .helpers import WAIT_SECONDS, Latch, ProbeWorker

pytestmark = pytest.mark.postgresql


def test_a_commit_anywhere_wakes_the_dispatcher(pg_url):
    db = models.open_database(pg_url)
    models.migrate(db)
    wakes = Latch()
    probe = ProbeWorker.start([], wakes)  # stands in for the dispatcher
    listener = PgListener(db, probe)
    listener.start()
    try:
        assert listener.listening.wait(WAIT_SECONDS)
        wakes.wait(1)  # the wake it sends as soon as it listens
        # When another connection commits a task
        models.enqueue([models.new_task("x", {})])
        # Then the dispatcher is told to wake
        wakes.wait(2)
        assert all(isinstance(message, Wake) for message in wakes.items)
    finally:
        listener.stop()
        db.close()


def test_it_reconnects_when_its_connection_is_killed(pg_url):
    db = models.open_database(pg_url)
    models.migrate(db)
    wakes = Latch()
    listener = PgListener(db, ProbeWorker.start([], wakes))
    listener.start()
    try:
        assert listener.listening.wait(WAIT_SECONDS)
        wakes.wait(1)
        # When the server drops the listening connection
        killed = db.execute_sql(
            "SELECT pg_terminate_backend(%s)", (listener.backend_pid,)
        ).fetchall()
        assert killed == [(True,)]
        # Then it listens again (waking once more, for what it may have missed)
        wakes.wait(2)
        # And new commits still wake the dispatcher
        models.enqueue([models.new_task("y", {})])
        wakes.wait(3)
    finally:
        listener.stop()
        db.close()
