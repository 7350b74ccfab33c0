"""kill -9 loses no accepted task: a restart on the same database completes every one.

The real ``python run.py`` is killed with SIGKILL in the middle of its work,
then a new process is started on the same database (SQLite and PostgreSQL).
"""

from __future__ import annotations

import http.client
import threading

import pytest

from tests.web.client import (
    post_json,
    submit,
    wait_until_all,
    wait_until_mid_way,
)

from .storage import by_status, stored_tasks

pytestmark = pytest.mark.system

TASKS = 40
FLAGS = ("--simulated-work", "0.1", "--workers", "2", "--prefetch", "5")


def test_kill9_mid_work_then_restart_completes_every_accepted_task(db_url, start_service):
    # Given: 40 accepted tasks, each 0.1 s of simulated work
    service = start_service(db_url, *FLAGS)
    ids = [submit(service.base_url, "uppercase", {"text": f"task {n}"}) for n in range(TASKS)]

    # When: some are done, some are running and some still wait, kill -9
    wait_until_mid_way(service.base_url)
    service.kill()

    # Then: every accepted task is on disk; the ones the dead process held are still running
    at_kill = stored_tasks(db_url)
    assert set(ids) <= set(at_kill)
    groups = by_status(at_kill)
    assert set(groups) <= {"completed", "running", "queued"}, groups
    assert groups.get("completed") and groups.get("running") and groups.get("queued"), groups
    running_at_kill = groups["running"]
    assert all(at_kill[task_id]["attempts"] == 1 for task_id in running_at_kill)

    # When: a new process starts on the same database
    restarted = start_service(db_url, *FLAGS)
    tasks = wait_until_all(restarted.base_url, ids)

    # Then: every accepted task completed with its result
    for n, task_id in enumerate(ids):
        assert tasks[task_id]["status"] == "completed", tasks[task_id]
        assert tasks[task_id]["result"] == {"output": f"TASK {n}"}
    # And: the interrupted ones were rescued and ran again; the rest ran exactly once
    log = restarted.log()
    for task_id in running_at_kill:
        assert tasks[task_id]["attempts"] == 2, tasks[task_id]
        assert f"task rescued task_id={task_id}" in log, log
    for task_id in set(ids) - running_at_kill:
        assert tasks[task_id]["attempts"] == 1, tasks[task_id]
    for task_id in groups["completed"]:
        assert tasks[task_id]["processed_at"] == at_kill[task_id]["processed_at"]


def test_kill9_while_accepting_loses_no_acknowledged_task(db_url, start_service):
    """Whatever got a 202 before the kill is stored, whichever moment the kill hit."""
    service = start_service(db_url, "--simulated-work", "0.01")
    accepted: list[str] = []
    lock = threading.Lock()
    enough = threading.Event()
    stop = threading.Event()
    failures: list[BaseException] = []

    def submitter(thread: int) -> None:
        n = 0
        while not stop.is_set():
            try:
                batch = [
                    {"action": "uppercase", "data": {"text": f"t{thread}-{n}-{i}"}}
                    for i in range(3)
                ]
                response = post_json(service.base_url, batch)
            except (OSError, http.client.HTTPException):
                return  # the process is gone: this request was never acknowledged
            if response.status != 202:
                failures.append(AssertionError((response.status, response.body)))
                return
            with lock:
                accepted.extend(task["id"] for task in response.json()["tasks"])
                if len(accepted) >= 150:
                    enough.set()
            n += 1

    # Given: four clients posting batches as fast as they are answered
    threads = [threading.Thread(target=submitter, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    try:
        # When: kill -9 while requests are in flight
        assert enough.wait(30), (
            f"the service accepted {len(accepted)} of 150 tasks within 30 s; failures: {failures}"
        )
        service.kill()
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
    assert not any(thread.is_alive() for thread in threads), "a client still waits for an answer"
    assert not failures, failures
    with lock:
        acknowledged = list(accepted)

    # Then: every acknowledged task is stored, and a restart completes all of them
    lost = set(acknowledged) - set(stored_tasks(db_url))
    assert not lost, f"{len(lost)} of {len(acknowledged)} acknowledged tasks are not stored"
    restarted = start_service(db_url, "--simulated-work", "0")
    tasks = wait_until_all(restarted.base_url, acknowledged, timeout=30)
    assert {task["status"] for task in tasks.values()} == {"completed"}
