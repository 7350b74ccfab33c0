"""Control across nodes, as separate processes on one database: a cancel, a pause and a
delay each behave the same whichever node hears of it and whichever runs the task."""

from __future__ import annotations

from collections import Counter

import orjson
import pytest

from tests.web.client import get_task, post_json, request, wait_for_status

from .test_cluster import Cluster

pytestmark = pytest.mark.system

CONTROL_ACTIONS = "tests.web.control_actions"


@pytest.fixture
def cluster(start_service, db_url, tmp_path) -> Cluster:
    return Cluster(start_service, db_url, tmp_path / "executions.log")


def post(node, path: str, body=None):
    data = None if body is None else orjson.dumps(body)
    return request(node.base_url, "POST", path, data, {"Content-Type": "application/json"})


def test_a_cancel_sent_to_one_node_reaches_a_task_running_on_another(cluster):
    # Given node A serving queue "a" only, and node B serving "b" only
    a = cluster.start_node("node-a", "--queues", "a", "--actions", CONTROL_ACTIONS)
    b = cluster.start_node("node-b", "--queues", "b", "--actions", CONTROL_ACTIONS)
    # And a task running on B, submitted through A
    task_id = post_json(a.base_url, {"action": "until_canceled", "queue": "b"}).json()["id"]
    running = wait_for_status(a.base_url, task_id, "running")
    assert running["node"] == "node-b"
    # When its cancel is sent to A
    response = post(a, f"/tasks/{task_id}/cancel")
    assert response.status == 202, response.body
    # Then B hears of it (at its next poll), its action stops, and the task is canceled
    task = wait_for_status(b.base_url, task_id, "canceled", timeout=10)
    assert task["error"] == "RuntimeError: stopped early: canceled"
    assert task["node"] == "node-b"


def test_a_queue_paused_through_one_node_stops_claims_on_another(cluster):
    a = cluster.start_node("node-a")
    b = cluster.start_node("node-b", "--queues", "held,free")
    # When the queue is paused through A, and tasks for it are posted to B
    assert post(a, "/queues/held/pause").status == 200
    held = [
        post_json(b.base_url, {"action": "record", "queue": "held", "data": {"key": n}}).json()[
            "id"
        ]
        for n in range(5)
    ]
    # Then B runs other queues' tasks, posted after them, but none of the paused queue's
    for n in range(3):
        sentinel = post_json(
            b.base_url, {"action": "record", "queue": "free", "data": {"key": f"free-{n}"}}
        ).json()["id"]
        wait_for_status(b.base_url, sentinel, "completed")
    assert {get_task(b.base_url, task_id)["status"] for task_id in held} == {"queued"}
    # And once resumed through A, they run, each once
    assert post(a, "/queues/held/resume").status == 200
    for task_id in held:
        wait_for_status(b.base_url, task_id, "completed")
    runs = Counter(key for key, _ in cluster.executions())
    assert all(runs[str(n)] == 1 for n in range(5)), runs


def test_a_delayed_task_runs_once_on_one_node(cluster):
    a = cluster.start_node("node-a")
    b = cluster.start_node("node-b")
    ids = [
        post_json(
            node.base_url, {"action": "record", "delay": 1, "data": {"key": f"later-{n}"}}
        ).json()["id"]
        for n, node in enumerate([a, b] * 5)
    ]
    for task_id in ids:
        assert get_task(a.base_url, task_id)["status"] == "scheduled"
    tasks = [wait_for_status(a.base_url, task_id, "completed") for task_id in ids]
    # Each ran once, whichever node staged it and whichever claimed it
    runs = Counter(key for key, _ in cluster.executions())
    assert sorted(runs) == sorted(f"later-{n}" for n in range(10))
    assert set(runs.values()) == {1}
    assert all(task["attempts"] == 1 for task in tasks)
