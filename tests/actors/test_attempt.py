"""An attempt's cancel event: made on first use, the same one for every thread."""

from __future__ import annotations

import threading

import models
from actors.attempt import Attempt


def attempt() -> Attempt:
    return Attempt(models.ClaimedTask("t1", "echo", {}, 1, "token"))


def test_a_new_attempt_is_not_cancelled_and_asking_so_makes_nothing():
    fresh = attempt()
    assert not fresh.cancel_asked()
    assert fresh._cancelled is None  # the point of making it lazily: no event per task


def test_the_event_set_by_one_thread_is_the_one_another_sees():
    shared = attempt()
    seen: list[threading.Event] = []
    # When the dispatcher's thread sets the cancel
    setter = threading.Thread(target=lambda: shared.cancelled.set())
    setter.start()
    setter.join()
    # Then the worker's thread sees it, through its check and through the context's event
    reader = threading.Thread(target=lambda: seen.append(shared.cancelled))
    reader.start()
    reader.join()
    assert shared.cancel_asked()
    assert seen == [shared.cancelled] and seen[0].is_set()
