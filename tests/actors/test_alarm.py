"""The alarm: one message at the time last set, with its token; stop ends its thread."""

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


def test_it_goes_off_once_at_the_time_last_set_with_that_token():
    latch = Latch()
    ref = Recorder.start(latch)
    alarm = Alarm(ref, lambda token: ("due", token), name="test-alarm")
    try:
        alarm.set(time.monotonic() + 3600, "far")
        set_at = time.monotonic()
        alarm.set(set_at + 0.02, "soon")  # moves it
        latch.wait(1)
        (message, at) = latch.items[0]
        assert message == ("due", "soon") and at >= set_at + 0.02
        alarm.set(time.monotonic(), "again")  # it can be set again after it went off
        latch.wait(2)
        assert latch.items[1][0] == ("due", "again")
    finally:
        alarm.stop()
        ref.stop()
    assert not alarm._thread.is_alive()
    assert len(latch.items) == 2  # "far" never went off
