"""The upkeep actors, driven with the time a test chooses: rescuer and leader lease."""

from __future__ import annotations

import socket

import models
from actors import LeaderElector, Leadership, MaintenanceService, Rescuer, Tick, Wake

from .helpers import WAIT_SECONDS, Latch, ProbeWorker, a_dead_pid

NOW = 1_700_000_000.0
LEASE = 30.0


def test_the_rescuer_takes_back_expired_leases_and_dead_local_owners_then_wakes(store):
    # Given three running tasks: one of a dead process on this host, one whose lease
    # expires, one of a live process elsewhere renewed in time
    rows = [models.new_task("x", {"n": n}, now_ns=int((NOW - 60) * 1e9)) for n in range(3)]
    store.enqueue(rows)
    dead_owner = f"{socket.gethostname()}:{a_dead_pid()}"
    [of_the_dead] = store.claim(dead_owner, "old", 1, NOW, LEASE)
    [expiring] = store.claim("other-host:1", "b", 1, NOW, LEASE)
    [alive] = store.claim("other-host:2", "c", 1, NOW, LEASE)
    store.heartbeat("other-host:2", [alive.id], NOW + 20, LEASE)
    wakes = Latch()
    dispatcher = ProbeWorker.start([], wakes)
    rescuer = Rescuer.start(store, 1.0, "me:1", 5, dispatcher)
    # When its round runs before any lease expired
    rescued = rescuer.ask(Tick(NOW + 1), timeout=WAIT_SECONDS)
    # Then only the dead process's task is back, and the dispatcher is woken
    assert rescued == [models.Rescued(of_the_dead.id, models.Status.QUEUED)]
    wakes.wait(1)
    assert isinstance(wakes.items[0], Wake)
    # When a round runs after the first lease expired but not the renewed one
    rescued = rescuer.ask(Tick(NOW + LEASE + 1), timeout=WAIT_SECONDS)
    # Then the expired one is back too; the renewed one still runs
    assert rescued == [models.Rescued(expiring.id, models.Status.QUEUED)]
    assert store.get_task(alive.id)["status"] == "running"
    wakes.wait(2)
    # And a round with nothing to do wakes nobody: asked after that round, the probe
    # has handled every message the rescuer sent it, and the next one is this barrier
    assert rescuer.ask(Tick(NOW + LEASE + 2), timeout=WAIT_SECONDS) == []
    dispatcher.ask("barrier", timeout=WAIT_SECONDS)
    assert [type(item) for item in wakes.items] == [Wake, Wake, str], wakes.items


def test_one_of_two_nodes_leads_and_the_other_takes_over_when_it_stops(store):
    # Given two nodes' electors on one database
    first, second = Leadership(), Leadership()
    a = LeaderElector.start(store, 1.0, "a", first)
    b = LeaderElector.start(store, 1.0, "b", second)
    # When both run a round
    assert a.ask(Tick(NOW), timeout=WAIT_SECONDS) is True
    assert b.ask(Tick(NOW), timeout=WAIT_SECONDS) is False
    # Then exactly one leads, and stays leader at its next rounds
    assert (first.is_leader, second.is_leader) == (True, False)
    assert a.ask(Tick(NOW + 1), timeout=WAIT_SECONDS) is True
    assert b.ask(Tick(NOW + 1), timeout=WAIT_SECONDS) is False
    # When the leader stops (it resigns), the other leads at its next round
    a.stop()
    assert first.is_leader is False
    assert b.ask(Tick(NOW + 2), timeout=WAIT_SECONDS) is True
    assert second.is_leader is True


class _Counting(MaintenanceService):
    name = "counting"
    leader_only = True

    def __init__(self, store, leadership, rounds: Latch) -> None:
        super().__init__(store, 1.0, leadership)
        self.rounds = rounds

    def tick(self, now: float) -> float:
        self.rounds.hit(now)
        return now


def test_a_leader_only_service_does_its_round_only_while_its_node_leads(store):
    leadership = Leadership()
    rounds = Latch()
    service = _Counting.start(store, leadership, rounds)
    assert service.ask(Tick(NOW), timeout=WAIT_SECONDS) is None
    leadership.set(True)
    assert service.ask(Tick(NOW + 1), timeout=WAIT_SECONDS) == NOW + 1
    assert rounds.items == [NOW + 1]
