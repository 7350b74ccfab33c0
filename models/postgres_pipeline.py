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

Statements a store runs again and again (``execute_prepared``, and every
held write) are prepared on the server, once per connection, and then only
executed: parsing and planning the claim cost PostgreSQL more than running
it. This is what psycopg 3 and pgx do on their own, and what Python's
sqlite3 does with its statement cache. ``PREPARE`` and ``EXECUTE`` go in the
same query string as the rest, so no round trip is added; a connection
keeps its ``PREPARED_MAX`` most recently used statements. A batch (more than
``PREPARED_MAX_PARAMS`` parameters) is sent as it is: its rows share its
planning already. Prepared statements belong to the session, so a connection
pooler in front of the server must keep each session on its own server
connection (PgBouncer's ``pool_mode = session``).
"""

from __future__ import annotations

import itertools
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import peewee
from peewee import PostgresqlDatabase

_WRAP_ERRORS = peewee.__exception_wrapper__  # psycopg2's errors as Peewee's, as Peewee does
_BEGIN = b"BEGIN"
PREPARED_MAX = 128  # statements kept prepared per connection, most recently used
# A statement with more parameters is a batch (many rows in one INSERT or UPDATE): its
# planning is shared by its rows already, and each size would be a statement of its own.
PREPARED_MAX_PARAMS = 16
_PLACEHOLDER = re.compile(r"%(.)", re.DOTALL)


def numbered(sql: str) -> str | None:
    """``sql`` with psycopg2's ``%s`` placeholders as ``$1, $2, …`` (and ``%%`` as ``%``),
    as ``PREPARE`` takes it; None if it has any other ``%`` sequence."""
    count = 0

    def replace(match: re.Match) -> str:
        nonlocal count
        if match.group(1) == "%":
            return "%"
        if match.group(1) != "s":
            raise ValueError(match.group(0))
        count += 1
        return f"${count}"

    try:
        return _PLACEHOLDER.sub(replace, sql)
    except ValueError:
        return None


class _Prepared:
    """One thread's prepared statements on its connection: SQL → name, most recent last.
    ``sent`` are on the server; ``unsent`` were written into statements not yet known to
    have run, and are forgotten if they fail (their names are never used again)."""

    __slots__ = ("conn", "sent", "unsent", "evicted")

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.sent: OrderedDict[str, str] = OrderedDict()
        self.unsent: dict[str, str] = {}
        self.evicted: list[str] = []  # names to DEALLOCATE with the next query


class PipelinedPostgresqlDatabase(PostgresqlDatabase):
    """``PostgresqlDatabase`` that holds BEGIN and ``execute_later`` writes back to send
    them with the next statement of the same thread's transaction, or its COMMIT."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held = threading.local()  # per thread, as the connections are
        self._names = itertools.count(1)  # prepared statement names, never reused

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
        """Run a write whose result nobody reads, as a prepared statement: in a
        transaction, with the next statement or the COMMIT; outside one, at once."""
        if not self.in_transaction():
            self.execute_prepared(sql, params)
            return
        self._log_query(sql, params)
        self._statements_held().append(self._bound(super().cursor(), sql, params, True))

    def execute_sql(self, sql: str, params: Sequence | None = None) -> Any:
        if not self._statements_held():
            return super().execute_sql(sql, params)
        return self._execute(sql, params, False)

    def execute_prepared(self, sql: str, params: Sequence | None = None) -> Any:
        """``execute_sql`` for a statement run again and again with other parameters: the
        server parses and plans it once per connection (prepared on its first use)."""
        return self._execute(sql, params, True)

    def _execute(self, sql: str, params: Sequence | None, prepare: bool) -> Any:
        self._log_query(sql, params)
        cursor = super().cursor()  # connects if need be
        self._send_held(cursor, self._bound(cursor, sql, params, prepare))
        return cursor

    def cursor(self, named_cursor: Any = None) -> Any:
        """A cursor for whoever uses one directly: what is held is sent first."""
        cursor = super().cursor()
        if self._statements_held():
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
        self._prepared().unsent.clear()
        if begun:
            super().rollback()

    def _close(self, conn: Any) -> None:
        self._statements_held().clear()
        self._held.prepared = None
        super()._close(conn)

    def _prepared(self) -> _Prepared:
        """This thread's prepared statements, on the connection it has now."""
        conn = self._state.conn
        prepared = getattr(self._held, "prepared", None)
        if prepared is None or prepared.conn is not conn:
            prepared = self._held.prepared = _Prepared(conn)
        return prepared

    def _bound(self, cursor: Any, sql: str, params: Sequence | None, prepare: bool) -> bytes:
        """``sql`` with its parameters in place, as psycopg2 would send it (Peewee always
        passes parameters, if only ``()``, so ``%%`` is ``%`` here too); with ``prepare``,
        as the EXECUTE of a prepared statement, preceded by its PREPARE the first time."""
        params = params or ()
        prepared = self._prepared() if prepare else None
        # A tuple would be bound as a row, which no parameter of a PREPARE can take.
        if (
            prepared is None
            or len(params) > PREPARED_MAX_PARAMS
            or any(isinstance(value, tuple) for value in params)
        ):
            with _WRAP_ERRORS:
                return cursor.mogrify(sql, params)
        name = prepared.sent.get(sql) or prepared.unsent.get(sql)
        text = None
        if name is None:
            text = numbered(sql)
            if text is None:
                with _WRAP_ERRORS:
                    return cursor.mogrify(sql, params)
            name = f"tq{next(self._names)}"
        elif sql in prepared.sent:
            prepared.sent.move_to_end(sql)
        marks = "(" + ", ".join(["%s"] * len(params)) + ")" if params else ""
        with _WRAP_ERRORS:
            run = cursor.mogrify(f"EXECUTE {name}{marks}", params)
        if text is None:
            return run
        prepared.unsent[sql] = name  # sent with this statement
        return f"PREPARE {name} AS {text}; ".encode() + run

    def _send_held(self, cursor: Any, *then: bytes) -> None:
        """Send what is held, then ``then``, as one query on ``cursor``; statements
        prepared in it count as prepared once it has run."""
        held = self._statements_held()
        prepared = self._prepared()
        statements = [*(f"DEALLOCATE {name}".encode() for name in prepared.evicted), *held, *then]
        prepared.evicted.clear()
        held.clear()
        if not statements:
            return
        try:
            with _WRAP_ERRORS:
                cursor.execute(b"; ".join(statements))
        except Exception:
            prepared.unsent.clear()  # perhaps prepared, perhaps not: not used again
            raise
        if prepared.unsent:
            prepared.sent.update(prepared.unsent)
            prepared.unsent.clear()
            while len(prepared.sent) > PREPARED_MAX:
                prepared.evicted.append(prepared.sent.popitem(last=False)[1])
