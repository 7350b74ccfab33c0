"""The leader lease: one holder at a time across the database, taken over when it lapses."""

from __future__ import annotations

import threading

NOW = 1_700_000_000.0
TTL = 10.0


def in_thread(function):
    """Run ``function`` in a thread of its own (its own connection), return its result."""
    result = []
    thread = threading.Thread(target=lambda: result.append(function()))
    thread.start()
    thread.join()
    return result[0]


def test_one_holder_at_a_time_and_renewal_keeps_it(store):
    # Given node a leading (on a connection of its own thread)
    results = {}
    gate_a, gate_b, done = threading.Event(), threading.Event(), threading.Event()

    def node_a():
        results["a1"] = store.try_lead("a", NOW, TTL)
        gate_a.set()
        gate_b.wait(10)
        results["a2"] = store.try_lead("a", NOW + 5, TTL)  # renews
        done.wait(10)
        store.resign("a")
        store.close()

    thread = threading.Thread(target=node_a)
    thread.start()
    gate_a.wait(10)
    # When node b asks while a holds it, in its own thread
    results["b1"] = in_thread(lambda: _ask_and_close(store, "b", NOW + 1))
    gate_b.set()
    done.set()
    thread.join()
    # Then a led and kept leading, b did not
    assert (results["a1"], results["a2"], results["b1"]) == (True, True, False)
    # And once a resigned, b leads
    assert in_thread(lambda: _ask_and_close(store, "b", NOW + 6)) is True


def _ask_and_close(store, holder, now):
    try:
        return store.try_lead(holder, now, TTL)
    finally:
        store.close()


def test_a_leader_that_goes_away_without_resigning_is_replaced(store):
    # Given a leads, then its connection is closed without resigning (a process killed)
    assert in_thread(lambda: _lead_and_vanish(store, "a")) is True
    # When b asks after the lease's time-to-live
    led = in_thread(lambda: store.try_lead("b", NOW + TTL + 1, TTL))
    # Then b leads
    assert led is True


def _lead_and_vanish(store, holder):
    led = store.try_lead(holder, NOW, TTL)
    store.close()
    return led
