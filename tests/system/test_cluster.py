"""Several nodes on one database, as separate processes.

PostgreSQL is how users scale across machines; SQLite runs the same claim,
lease and rescue code for several processes sharing one file.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.web.client import get_task, post_json, wait_for, wait_until_all

pytestmark = pytest.mark.system

LEASE_SECONDS = 3.0


class Cluster:
    """Nodes sharing one database and one execution log."""

    def __init__(self, start_service, db_url: str, log: Path) -> None:
        self._start_service = start_service
        self.db_url = db_url
        self.log = log
        log.touch()
        self.nodes = []

    def start_node(self, name: str, *flags: str, env: dict[str, str] | None = None):
        node = self._start_service(
            self.db_url,
            "--node-name",
            name,
            "--simulated-work",
            "0",
            "--lease",
            str(LEASE_SECONDS),
            "--poll-interval",
            "0.2",
            "--actions",
            "tests.system.cluster_actions",
            *flags,
            env={"TASKQUEUE_TEST_EXECUTION_LOG": str(self.log), **(env or {})},
        )
        self.nodes.append(node)
        return node

    def executions(self) -> list[tuple[str, int]]:
        lines = self.log.read_text().splitlines()
        return [(key, int(pid)) for key, pid in (line.split() for line in lines)]


def submit_alternately(nodes, count: int, seconds: float = 0.0) -> dict[int, str]:
    """POST ``count`` record tasks, alternating nodes, from 8 client threads; key → id."""

    def post(key: int) -> tuple[int, str]:
        node = nodes[key % len(nodes)]
        response = post_json(
            node.base_url, {"action": "record", "data": {"key": key, "seconds": seconds}}
        )
        assert response.status == 202, response.body
        return key, response.json()["id"]

    with ThreadPoolExecutor(8) as pool:
        return dict(pool.map(post, range(count)))


@pytest.fixture
def cluster(start_service, db_url, tmp_path) -> Cluster:
    return Cluster(start_service, db_url, tmp_path / "executions.log")


def test_two_nodes_run_every_task_exactly_once_and_share_the_work(cluster):
    # Given two nodes on one database
    a = cluster.start_node("node-a")
    b = cluster.start_node("node-b")
    # When 500 tasks are posted alternately to both
    ids = submit_alternately([a, b], 500)
    # Then every task completes, as seen from either node
    tasks = wait_until_all(a.base_url, ids.values(), ("completed",), timeout=60)
    assert all(tasks[task_id]["result"]["key"] == key for key, task_id in ids.items())
    # And the execution log shows each task ran exactly once
    runs = Counter(key for key, _ in cluster.executions())
    assert sorted(runs) == sorted(str(key) for key in ids)
    assert set(runs.values()) == {1}
    # And both nodes did work, each task recording the node that ran it
    by_node = Counter(task["node"] for task in tasks.values())
    assert set(by_node) == {"node-a", "node-b"}, by_node
    assert all(task["attempts"] == 1 for task in tasks.values())
    pids = {a.process.pid: "node-a", b.process.pid: "node-b"}
    for task in tasks.values():
        assert pids[task["result"]["pid"]] == task["node"]


def test_a_killed_node_s_tasks_are_finished_by_the_other_after_its_lease(cluster):
    # Given two nodes busy with slow tasks
    a = cluster.start_node("node-a")
    b = cluster.start_node("node-b")
    ids = submit_alternately([a, b], 60, seconds=0.1)

    # When node A is killed mid-run, while it holds tasks
    def started_on_a() -> int:
        return Counter(pid for _, pid in cluster.executions())[a.process.pid]

    wait_for(
        lambda: started_on_a() >= 4,
        timeout=20,
        message=lambda: f"node A to start 4 tasks; last seen: {started_on_a()}",
    )
    a_pid = a.process.pid
    a.kill()
    # Then every task still completes, within the lease plus a few seconds
    tasks = wait_until_all(b.base_url, ids.values(), ("completed",), timeout=LEASE_SECONDS + 20)
    assert all(tasks[task_id]["result"]["key"] == key for key, task_id in ids.items())
    executions = cluster.executions()
    runs = Counter(key for key, _ in executions)
    assert set(runs) == {str(key) for key in ids}
    # And only tasks node A had started ran again, at most its held capacity (2 workers x 5)
    started_by_a = {key for key, pid in executions if pid == a_pid}
    ran_twice = {key for key, count in runs.items() if count > 1}
    assert ran_twice, "no task was running on node A when it was killed: nothing was tested"
    assert ran_twice <= started_by_a
    assert len(ran_twice) <= 10
    assert max(runs.values()) <= 2
    # And the tasks A was running are recorded as finished by B on their second attempt
    for key in ran_twice:
        task = tasks[ids[int(key)]]
        assert (task["node"], task["attempts"]) == ("node-b", 2)


def test_a_node_started_later_takes_a_share_of_the_backlog(cluster):
    # Given one node with a backlog of slow tasks
    a = cluster.start_node("node-a", "--workers", "1", "--prefetch", "1")
    ids = submit_alternately([a], 120, seconds=0.05)
    wait_for(
        lambda: len(cluster.executions()) >= 3,
        timeout=20,
        message=lambda: f"node A to start 3 tasks; last seen: {len(cluster.executions())}",
    )
    # When a second node starts
    b = cluster.start_node("node-b")
    # Then it runs part of the backlog, and everything completes exactly once
    tasks = wait_until_all(b.base_url, ids.values(), ("completed",), timeout=60)
    by_node = Counter(task["node"] for task in tasks.values())
    assert by_node["node-b"] > 0 and by_node["node-a"] > 0, by_node
    runs = Counter(key for key, _ in cluster.executions())
    assert set(runs.values()) == {1}


@pytest.mark.postgresql
def test_a_task_its_node_cannot_start_at_once_wakes_the_others(start_service, pg_url, tmp_path):
    # A node whose idle workers start a task at once tells no other node of it (its wake
    # would be a claim that finds nothing); a node that cannot start it must tell them.
    cluster = Cluster(start_service, pg_url, tmp_path / "executions.log")
    # Given node A with its only worker busy, and node B, which polls only once a minute
    # and so runs something soon only when told of it
    a = cluster.start_node("node-a", "--workers", "1", "--prefetch", "1")
    busy = post_json(a.base_url, {"action": "record", "data": {"key": "busy", "seconds": 60}})
    busy_id = busy.json()["id"]
    wait_for(lambda: get_task(a.base_url, busy_id)["status"] == "running", timeout=20)
    b = cluster.start_node("node-b", "--poll-interval", "60")
    # When a task is posted to A
    ids = submit_alternately([a], 1)
    # Then B runs it, long before A could or B's poll would
    (task,) = wait_until_all(b.base_url, ids.values(), ("completed",), timeout=20).values()
    assert task["node"] == "node-b"
    # And a task posted to B, whose workers are idle, runs on B
    ids = submit_alternately([b], 1)
    (task,) = wait_until_all(b.base_url, ids.values(), ("completed",), timeout=20).values()
    assert task["node"] == "node-b"
