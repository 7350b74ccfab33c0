"""The clock of the actor system: periodic ``Poll`` and ``Rescue`` messages."""

from __future__ import annotations

import threading
import time

import pykka

from .messages import Poll, Rescue


class Ticker:
    """A daemon thread that tells the dispatcher ``Poll`` and the supervisor ``Rescue``.

    Pykka has no timers. Keeping the clock outside the actors means every
    time-driven step is a message carrying ``now``, which a test can send
    with any ``now`` it likes instead of sleeping.
    """

    def __init__(
        self,
        dispatcher: pykka.ActorRef,
        supervisor: pykka.ActorRef,
        poll_interval_seconds: float,
        rescue_interval_seconds: float,
    ) -> None:
        self._dispatcher = dispatcher
        self._supervisor = supervisor
        self._poll_interval_seconds = poll_interval_seconds
        self._rescue_interval_seconds = rescue_interval_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ticker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        next_rescue = time.monotonic() + self._rescue_interval_seconds
        while not self._stop.wait(self._poll_interval_seconds):
            try:
                self._dispatcher.tell(Poll(time.time()))
                if time.monotonic() >= next_rescue:
                    next_rescue = time.monotonic() + self._rescue_interval_seconds
                    self._supervisor.tell(Rescue(time.time()))
            except pykka.ActorDeadError:
                return
