"""PostgreSQL connections that send a transaction in fewer round trips.

Each statement Peewee sends is a round trip to the server, and BEGIN and
COMMIT are statements too. Settling one finished task took eight: BEGIN, the
UPDATE, the finished count, the history, the minute's stats, the webhook
deliveries, the NOTIFY, COMMIT. On a busy machine every round trip waits for
the server's process and then for this one's thread to be scheduled again,
and those waits make up the tail of a task's latency.

Here ``BEGIN`` is held back and sent with the transaction's first statement,
and a write whose result nobody reads (``execute_later``) is sent with the
next statement, or with the ``COMMIT``. psycopg2 binds parameters on the
client, so statements are joined into one query string; the server runs them
in order and the cursor holds the result of the last, the statement that
asked for it. A statement sees every earlier write of its transaction, as
before; an error in a held write is raised by the call that sent it, and the
transaction is rolled back as any failed one.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import peewee
from peewee import PostgresqlDatabase

_WRAP_ERRORS = peewee.__exception_wrapper__  # psycopg2's errors as Peewee's, as Peewee does
_BEGIN = b"BEGIN"


class PipelinedPostgresqlDatabase(PostgresqlDatabase):
    """``PostgresqlDatabase`` that holds BEGIN and ``execute_later`` writes back to send
    them with the next statement of the same thread's transaction, or its COMMIT."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held = threading.local()  # per thread, as the connections are

    def _statements_held(self) -> list[bytes]:
        held = getattr(self._held, "statements", None)
        if held is None:
            held = self._held.statements = []
        return held

    def begin(self, isolation_level: Any = None) -> None:
        if isolation_level is not None or self._isolation_level:
            super().begin(isolation_level)  # not used here; sent at once, as Peewee does
            return
        if self.is_closed():  # as Peewee's BEGIN would: connecting later would reset its state
            self.connect()
        held = self._statements_held()
        held.clear()
        held.append(_BEGIN)

    def execute_later(self, sql: str, params: Sequence | None = None) -> None:
        """Run a write whose result nobody reads: in a transaction, with the next statement
        or the COMMIT; outside one, at once."""
        if not self.in_transaction():
            self.execute_sql(sql, params)
            return
        self._log_query(sql, params)
        self._statements_held().append(self._bound(super().cursor(), sql, params))

    def execute_sql(self, sql: str, params: Sequence | None = None) -> Any:
        if not self._statements_held():
            return super().execute_sql(sql, params)
        self._log_query(sql, params)
        cursor = super().cursor()
        self._send_held(cursor, self._bound(cursor, sql, params))
        return cursor

    def cursor(self, named_cursor: Any = None) -> Any:
        """A cursor for whoever uses one directly: what is held is sent first."""
        cursor = super().cursor()
        self._send_held(cursor)
        return cursor

    def commit(self) -> None:
        held = self._statements_held()
        if held == [_BEGIN]:  # nothing was run in it: nothing to commit
            held.clear()
        elif held:
            self._send_held(super().cursor(), b"COMMIT")
        else:
            super().commit()

    def rollback(self) -> None:
        held = self._statements_held()
        begun = held[:1] != [_BEGIN]  # the server has seen the BEGIN
        held.clear()
        if begun:
            super().rollback()

    def _close(self, conn: Any) -> None:
        self._statements_held().clear()
        super()._close(conn)

    def _bound(self, cursor: Any, sql: str, params: Sequence | None) -> bytes:
        """``sql`` with its parameters in place, as psycopg2 would send it (Peewee always
        passes parameters, if only ``()``, so ``%%`` is ``%`` here too)."""
        with _WRAP_ERRORS:
            return cursor.mogrify(sql, params or ())

    def _send_held(self, cursor: Any, *then: bytes) -> None:
        """Send what is held, then ``then``, as one query on ``cursor``."""
        held = self._statements_held()
        statements = [*held, *then]
        held.clear()
        if statements:
            with _WRAP_ERRORS:
                cursor.execute(b"; ".join(statements))
