"""Fast wake-up across processes: the store's listener, on a thread of its own."""

from __future__ import annotations

import logging
import threading

import pykka

import models

from .finished import FinishedBoard
from .log import log_event
from .messages import Wake

LISTEN_TIMEOUT_SECONDS = 5.0  # a wait wakes this often even when nothing happens
RECONNECT_DELAY_SECONDS = 1.0


class WakeListener:
    """A daemon thread that tells the dispatcher ``Wake`` when any process commits tasks,
    and the finished board which tasks any process finished.

    The store's ``Listener`` (a LISTEN connection on PostgreSQL) reports new
    tasks and finished ones; a burst of them becomes one ``Wake``. If its connection drops it
    reconnects after a pause, and says ``Wake`` once it listens again for
    what it may have missed; meanwhile the dispatcher's poll still finds the
    work. ``stop`` interrupts a wait, so it returns at once, and closes the
    connection.
    """

    def __init__(
        self,
        listener: models.Listener,
        dispatcher: pykka.ActorRef,
        board: FinishedBoard | None = None,
    ) -> None:
        self._listener = listener
        self._dispatcher = dispatcher
        self._board = board
        self._stop = threading.Event()
        self.listening = threading.Event()  # set while LISTEN is in place (tests wait on it)
        self._thread = threading.Thread(target=self._run, name="wake-listener", daemon=True)

    @property
    def backend_pid(self) -> int | None:
        """The database server process of the listening connection, where there is one."""
        return getattr(self._listener, "backend_pid", None)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._listener.interrupt()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    self._listen()
                except models.ListenerLost as exc:
                    self.listening.clear()
                    log_event("listener disconnected", logging.WARNING, error=str(exc))
                    self._stop.wait(RECONNECT_DELAY_SECONDS)
                except pykka.ActorDeadError:
                    return
        finally:
            self._listener.close()

    def _listen(self) -> None:
        self._listener.connect()
        self.listening.set()
        # Anything committed while we were not listening is found by this wake.
        self._dispatcher.tell(Wake())
        while not self._stop.is_set():
            heard = self._listener.wait(LISTEN_TIMEOUT_SECONDS)
            if heard.new_tasks:
                self._dispatcher.tell(Wake())
            if heard.finished and self._board is not None:
                self._board.publish(heard.finished)
