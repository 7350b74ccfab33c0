"""Waiting, nodes and diagnosis across nodes, as separate processes on one database."""

from __future__ import annotations

import signal
import time

import pytest

from tests.web.client import get_task, post_json, request, wait_for, wait_for_status

from .test_cluster import LEASE_SECONDS, Cluster

pytestmark = pytest.mark.system

CONTROL_ACTIONS = "tests.web.control_actions"
RECHECK_SECONDS = 1.0  # web/waiting.py: a waiter not told looks again this often


@pytest.fixture
def cluster(start_service, db_url, tmp_path) -> Cluster:
    return Cluster(start_service, db_url, tmp_path / "executions.log")


def diagnosis(node, task_id: str) -> dict:
    response = request(node.base_url, "GET", f"/tasks/{task_id}/diagnosis")
    assert response.status == 200, response.body
    return response.json()


@pytest.mark.postgresql
def test_a_waiter_on_one_node_is_woken_by_a_completion_on_another(start_service, pg_url, tmp_path):
    cluster = Cluster(start_service, pg_url, tmp_path / "executions.log")
    a = cluster.start_node("node-a", "--queues", "a", "--actions", CONTROL_ACTIONS)
    cluster.start_node("node-b", "--queues", "b", "--actions", CONTROL_ACTIONS)
    # Given a task that node B runs for a second, submitted to A
    task_id = post_json(
        a.base_url, {"action": "until_canceled", "queue": "b", "data": {"seconds": 1}}
    ).json()["id"]
    # When A is asked to wait for it
    response = request(a.base_url, "GET", f"/tasks/{task_id}?wait=30")
    answered = time.time()
    # Then A answers with the completed task, told by B's NOTIFY, not by its own recheck
    assert response.status == 200 and response.json()["status"] == "completed"
    assert response.json()["node"] == "node-b"
    events = request(a.base_url, "GET", f"/tasks/{task_id}/events").json()["events"]
    completed_at = next(e["at"] for e in events if e["kind"] == "completed")
    assert answered - completed_at < RECHECK_SECONDS / 2, answered - completed_at


def test_nodes_shows_each_node_and_a_killed_one_as_lost(cluster):
    a = cluster.start_node("node-a")
    b = cluster.start_node("node-b", "--queues", "b,c")
    nodes = {n["name"]: n for n in request(a.base_url, "GET", "/nodes").json()["nodes"]}
    assert set(nodes) == {"node-a", "node-b"}
    assert (nodes["node-b"]["queues"], nodes["node-b"]["state"]) == (["b", "c"], "alive")
    assert nodes["node-a"]["owner"].endswith(f":{a.process.pid}")
    b.kill()
    wait_for(
        lambda: (
            {n["name"]: n["state"] for n in request(a.base_url, "GET", "/nodes").json()["nodes"]}
            == {"node-a": "alive", "node-b": "lost"}
        ),
        timeout=3 * LEASE_SECONDS + 10,
        message="node B to show as lost",
    )


def test_a_node_stopped_cleanly_leaves_the_list(cluster):
    a = cluster.start_node("node-a")
    b = cluster.start_node("node-b")
    b.signal(signal.SIGTERM)
    assert b.wait(30) == 0
    names = [n["name"] for n in request(a.base_url, "GET", "/nodes").json()["nodes"]]
    assert names == ["node-a"]


def test_diagnosis_of_a_task_on_a_killed_node_and_of_a_queue_nobody_serves(cluster):
    # Node A rescues only once a minute, so the expired lease is seen before its rescue
    a = cluster.start_node(
        "node-a", "--queues", "a", "--rescue-interval", "60", "--actions", CONTROL_ACTIONS
    )
    b = cluster.start_node("node-b", "--queues", "b", "--actions", CONTROL_ACTIONS)
    task_id = post_json(
        a.base_url, {"action": "until_canceled", "queue": "b", "data": {"seconds": 60}}
    ).json()["id"]
    wait_for_status(a.base_url, task_id, "running")
    found = diagnosis(a, task_id)
    assert [r["code"] for r in found["reasons"]] == ["running"]
    assert "node-b" in found["reasons"][0]["message"]
    # When node B is killed, its lease expires
    b.kill()
    found = wait_for(
        lambda: (
            (d := diagnosis(a, task_id))["reasons"][-1]["code"] == "lease_expired_awaiting_rescue"
            and d
        ),
        timeout=LEASE_SECONDS + 10,
        message=lambda: f"the lease to expire: {diagnosis(a, task_id)}",
    )
    assert [r["code"] for r in found["reasons"]] == ["running", "lease_expired_awaiting_rescue"]
    # And a task of a queue no live node serves says so
    orphan = post_json(a.base_url, {"action": "uppercase", "queue": "nobody"}).json()["id"]
    found = diagnosis(a, orphan)
    assert found["runnable"] is False
    assert [r["code"] for r in found["reasons"]] == ["no_node_serves_queue", "workers_busy"]
    assert "they serve a" in found["reasons"][0]["message"]
    assert get_task(a.base_url, orphan)["status"] == "queued"
