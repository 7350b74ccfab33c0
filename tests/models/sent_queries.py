"""A PostgreSQL store whose connection records every query it sends, one per round trip."""

from __future__ import annotations

import psycopg2.extensions
import pytest

import models


class RecordingCursor(psycopg2.extensions.cursor):
    """Keeps every query sent to the server in ``sent``, one per round trip."""

    sent: list[bytes] = []

    def execute(self, query, vars=None):  # noqa: A002 - psycopg2's own name
        RecordingCursor.sent.append(query if isinstance(query, bytes) else query.encode())
        return super().execute(query, vars)


def record_queries(store: models.Store) -> None:
    """From now on, the queries ``store``'s connection (in this thread) sends are kept."""
    store.db.connect(reuse_if_open=True)
    store.db.connection().cursor_factory = RecordingCursor
    RecordingCursor.sent = []


@pytest.fixture(name="store")
def recording_store(pg_url):
    """``store`` for a module that imports this: a migrated PostgreSQL store, on the
    caller's clock, recording what it sends."""
    opened = models.open_store(pg_url)
    opened.migrate()
    opened.trust_caller_clock = True
    record_queries(opened)
    yield opened
    opened.close()
