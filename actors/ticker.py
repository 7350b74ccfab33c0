"""The clock of the actor system: periodic messages, each at its own interval."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import pykka

from models import clock as node_clock


@dataclass(frozen=True)
class Periodic:
    """Tell ``ref`` the message ``make(now)`` every ``interval_seconds``."""

    ref: pykka.ActorRef
    interval_seconds: float
    make: Callable[[float], object]


class Ticker:
    """A daemon thread that tells each actor its periodic message.

    Pykka has no timers. Keeping the clock outside the actors means every
    time-driven step is a message carrying ``now``, which a test can send
    with any ``now`` it likes instead of sleeping. An actor that has
    stopped is dropped from the schedule; ``stop`` returns at once.
    """

    def __init__(
        self, schedule: list[Periodic], clock: Callable[[], float] = node_clock.now
    ) -> None:
        self._schedule = list(schedule)
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ticker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        started = time.monotonic()
        due = [started + entry.interval_seconds for entry in self._schedule]
        while self._schedule:
            soonest = min(due)
            if self._stop.wait(max(0.0, soonest - time.monotonic())):
                return
            now_monotonic = time.monotonic()
            for index in reversed(range(len(self._schedule))):
                if due[index] > now_monotonic:
                    continue
                entry = self._schedule[index]
                # The next tick counts from now: a slow round is not caught up in a burst.
                due[index] = now_monotonic + entry.interval_seconds
                try:
                    entry.ref.tell(entry.make(self._clock()))
                except pykka.ActorDeadError:
                    del self._schedule[index], due[index]
