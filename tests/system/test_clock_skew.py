"""Two real nodes on one PostgreSQL database, one with its clock an hour ahead (the
service's test hook ``TASKQUEUE_TEST_CLOCK_OFFSET_SECONDS`` moves every clock
reading of that process). The database's clock decides leases and due times,
so the fast node takes over nothing alive, delays nothing, and loses no one."""

from __future__ import annotations

from collections import Counter

import pytest

from models.clock import OFFSET_VARIABLE
from tests.web.client import get_task, post_json, request, wait_until_all

from .test_cluster import LEASE_SECONDS, Cluster

pytestmark = [pytest.mark.system, pytest.mark.postgresql]

AN_HOUR_AHEAD = {OFFSET_VARIABLE: "3600"}


def test_a_node_an_hour_ahead_takes_over_nothing_alive(start_service, pg_url, tmp_path):
    cluster = Cluster(start_service, pg_url, tmp_path / "executions.log")
    steady = cluster.start_node("steady", "--workers", "2")
    # The fast node claims only a queue nobody posts to, and looks for expired leases
    # five times a second: by its clock every lease expired an hour ago.
    fast = cluster.start_node(
        "fast", "--queues", "unused", "--rescue-interval", "0.2", env=AN_HOUR_AHEAD
    )
    # When tasks accepted by either node run on the steady one for two leases each
    work = {"seconds": LEASE_SECONDS * 2}
    ids = [
        post_json(node.base_url, {"action": "record", "data": {"key": key, **work}}).json()["id"]
        for key, node in (("a", steady), ("b", fast))
    ]
    later = post_json(
        fast.base_url, {"action": "record", "delay": 1, "data": {"key": "later"}}
    ).json()["id"]
    # Then they were due at once (the delayed one a second later, not an hour)
    wait_until_all(steady.base_url, [*ids, later], timeout=LEASE_SECONDS * 2 + 20)
    tasks = [get_task(steady.base_url, task_id) for task_id in [*ids, later]]
    assert [(task["status"], task["node"], task["attempts"]) for task in tasks] == [
        ("completed", "steady", 1)
    ] * 3
    # And each ran once: the fast node took over no lease the steady one kept alive
    assert Counter(key for key, _ in cluster.executions()) == {"a": 1, "b": 1, "later": 1}
    # And each node sees the other alive
    for node in (steady, fast):
        response = request(node.base_url, "GET", "/nodes")
        assert response.status == 200, response.body
        states = {seen["name"]: seen["state"] for seen in response.json()["nodes"]}
        assert states == {"steady": "alive", "fast": "alive"}, (node, states)


def test_the_offset_hook_moves_the_node_clock(start_service, pg_url, tmp_path):
    """The test above would prove nothing if the hook did not move the clock."""
    cluster = Cluster(start_service, pg_url, tmp_path / "executions.log")
    fast = cluster.start_node("fast", env=AN_HOUR_AHEAD)
    task_id = post_json(fast.base_url, {"action": "record", "data": {"key": "k"}}).json()["id"]
    task = get_task(fast.base_url, task_id)
    steady = cluster.start_node("steady")
    other_id = post_json(steady.base_url, {"action": "record", "data": {"key": "j"}}).json()["id"]
    other = get_task(steady.base_url, other_id)
    assert 3500 < task["created_at"] - other["created_at"] < 3700
