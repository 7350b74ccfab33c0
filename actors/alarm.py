"""A one-shot timer for an actor: tells it a message at a time set beforehand.

Pykka has no timers, and the ticker's periodic messages are too coarse for a
deadline counted in milliseconds. One thread per alarm waits on a condition
until the set time and then tells the message; setting it again moves it.
"""

from __future__ import annotations

import threading
import time

import pykka


class Alarm:
    def __init__(self, ref: pykka.ActorRef, message: object, name: str) -> None:
        """``message`` is what ``ref`` is told each time the alarm goes off."""
        self._ref = ref
        self._message = message
        self._condition = threading.Condition()
        self._at: float | None = None  # time.monotonic() to go off at; None: not armed
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def set(self, at: float) -> None:
        """Go off at ``at`` (``time.monotonic()``) instead of any time set before."""
        with self._condition:
            self._at = at
            self._condition.notify()

    def stop(self) -> None:
        with self._condition:
            self._stopped = True
            self._condition.notify()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._stopped:
                    if self._at is None:
                        self._condition.wait()
                        continue
                    left = self._at - time.monotonic()
                    if left <= 0:
                        break
                    self._condition.wait(left)
                if self._stopped:
                    return
                self._at = None
            try:
                self._ref.tell(self._message)
            except pykka.ActorDeadError:
                return
