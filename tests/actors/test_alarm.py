"""The alarm: its message once at the time last set; stop ends its thread."""

from __future__ import annotations

import time

import pykka

from actors.alarm import Alarm

from .helpers import Latch


class Recorder(pykka.ThreadingActor):
    def __init__(self, latch: Latch) -> None:
        super().__init__()
        self._latch = latch

    def on_receive(self, message):
        self._latch.hit((message, time.monotonic()))


def test_it_goes_off_once_at_the_time_last_set():
    latch = Latch()
    ref = Recorder.start(latch)
    alarm = Alarm(ref, "due", name="test-alarm")
    try:
        alarm.set(time.monotonic() + 3600)
        set_at = time.monotonic()
        alarm.set(set_at + 0.02)  # moves it
        latch.wait(1)
        (message, at) = latch.items[0]
        assert message == "due" and at >= set_at + 0.02
        alarm.set(time.monotonic())  # it can be set again after it went off
        latch.wait(2)
        assert latch.items[1][0] == "due"
    finally:
        alarm.stop()
        ref.stop()
    assert not alarm._thread.is_alive()
    assert len(latch.items) == 2  # "far" never went off
