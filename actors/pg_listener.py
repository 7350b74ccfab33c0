"""Fast wake-up across nodes: PostgreSQL LISTEN/NOTIFY."""

from __future__ import annotations

import logging
import select
import threading

import psycopg2
import pykka
from peewee import PostgresqlDatabase

from models import PG_NOTIFY_CHANNEL

from .log import log_event
from .messages import Wake

LISTEN_TIMEOUT_SECONDS = 1.0  # how often the thread checks whether it should stop
RECONNECT_DELAY_SECONDS = 1.0


class PgListener:
    """A daemon thread that tells the dispatcher ``Wake`` when any node commits tasks.

    Every enqueue transaction on PostgreSQL runs ``pg_notify``; this thread
    holds its own autocommit connection that LISTENs on that channel, so an
    idle node starts a task submitted to another node within milliseconds.
    A burst of notifications becomes one ``Wake``. If the connection drops it
    reconnects; meanwhile the dispatcher's poll still finds the work.
    """

    def __init__(self, db: PostgresqlDatabase, dispatcher: pykka.ActorRef) -> None:
        self._connect_kwargs = {"dbname": db.database, **db.connect_params}
        self._dispatcher = dispatcher
        self._stop = threading.Event()
        self.listening = threading.Event()  # set once LISTEN is in place (tests wait on it)
        self.backend_pid: int | None = None  # the server process of the listening connection
        self._thread = threading.Thread(target=self._run, name="pg-listener", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except (psycopg2.Error, OSError) as exc:
                self.listening.clear()
                log_event("listener disconnected", logging.WARNING, error=repr(exc))
                self._stop.wait(RECONNECT_DELAY_SECONDS)
            except pykka.ActorDeadError:
                return

    def _listen(self) -> None:
        connection = psycopg2.connect(**self._connect_kwargs)
        try:
            connection.autocommit = True
            connection.cursor().execute(f"LISTEN {PG_NOTIFY_CHANNEL}")
            self.backend_pid = connection.get_backend_pid()
            self.listening.set()
            # Anything committed while we were not listening is found by this wake.
            self._dispatcher.tell(Wake())
            while not self._stop.is_set():
                readable, _, _ = select.select([connection], [], [], LISTEN_TIMEOUT_SECONDS)
                if not readable:
                    continue
                connection.poll()
                if connection.notifies:
                    connection.notifies.clear()
                    self._dispatcher.tell(Wake())
        finally:
            connection.close()
