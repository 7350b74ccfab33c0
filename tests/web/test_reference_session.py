"""The reference's curl session against the real service, and the shape of every answer.

Each test starts ``python run.py`` on a free port, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import re
import socket
import time

import pytest

from .client import (
    get_task,
    is_task_id,
    list_tasks,
    post_json,
    request,
    submit,
    wait_for_log,
    wait_for_status,
    wait_until_all,
)

pytestmark = pytest.mark.system

TASK_FIELDS = {
    "id",
    "action",
    "payload",
    "status",
    "result",
    "error",
    "traceback",
    "attempts",
    "queue",
    "priority",
    "run_at",
    "max_attempts",
    "timeout",
    "cancel_requested",
    "progress",
    "created_at",
    "processed_at",
    "node",
}


def test_reference_curl_session(db_url, start_service):
    service = start_service(db_url, "--simulated-work", "0.01")
    started = int(time.time())

    # When: curl -X POST /tasks -H 'Content-Type: application/json' -d '{...}'
    response = request(
        service.base_url,
        "POST",
        "/tasks",
        b'{"action": "uppercase", "data": {"text": "hello world"}}',
        {"Content-Type": "application/json"},
    )

    # Then: 202 with the new id and "queued", and nothing else, and the task's Location
    assert response.status == 202, response.body
    assert response.content_type == "application/json"
    body = response.json()
    assert set(body) == {"id", "status"}
    assert body["status"] == "queued"
    task_id = body["id"]
    assert is_task_id(task_id), task_id
    assert response.headers.get("location") == f"/tasks/{task_id}", response.headers

    # When: GET /tasks/{id} until the workers are done with it
    task = wait_for_status(service.base_url, task_id, "completed")
    finished = time.time()

    # Then: every field, with payload and result as JSON objects
    assert set(task) == TASK_FIELDS
    assert task["id"] == task_id
    assert task["action"] == "uppercase"
    assert task["status"] == "completed"
    assert task["result"] == {"output": "HELLO WORLD"}
    assert task["error"] is None
    assert task["traceback"] is None
    assert task["attempts"] == 1
    assert isinstance(task["created_at"], int)
    assert started <= task["created_at"] <= finished
    assert isinstance(task["processed_at"], int)
    assert task["created_at"] <= task["processed_at"] <= finished
    assert task["payload"] == {
        "id": task_id,
        "action": "uppercase",
        "data": {"text": "hello world"},
        "created_at": task["created_at"],
    }
    assert task["node"] == f"{socket.gethostname()}:{service.process.pid}"

    # And: the log has a line per event, with its fields
    wait_for_log(service, rf"processing task task_id={task_id} action=uppercase attempt=1\b")
    wait_for_log(service, rf"task completed task_id={task_id} action=uppercase .*duration_ms=")
    assert "migration complete" in service.log()

    # When: curl /tasks
    response = request(service.base_url, "GET", "/tasks")

    # Then: the same task, newest first, and count is the number of rows
    assert response.status == 200
    assert response.content_type == "application/json"
    assert response.json() == {"tasks": [task], "count": 1, "next_cursor": None}

    # And: ?status= filters
    assert list_tasks(service.base_url, status="completed") == {
        "tasks": [task],
        "count": 1,
        "next_cursor": None,
    }
    for status in ("queued", "running", "retrying", "dead"):
        assert list_tasks(service.base_url, status=status) == {
            "tasks": [],
            "count": 0,
            "next_cursor": None,
        }


def test_builtin_actions_and_a_failing_task_ending_dead(db_url, start_service):
    service = start_service(
        db_url, "--simulated-work", "0", "--max-attempts", "2", "--retry-backoff", "0"
    )

    # Given: the three kinds of built-in action, and a sum that cannot succeed
    summed = submit(service.base_url, "sum", {"numbers": [1, 2, 3, 4, 5]})
    empty_sum = submit(service.base_url, "sum")
    other = submit(service.base_url, "resize", {"width": 10})
    no_text = submit(service.base_url, "uppercase", {})
    failing = submit(service.base_url, "sum", {"numbers": [1, "x"]})

    # When: all of them are settled
    tasks = wait_until_all(service.base_url, [summed, empty_sum, other, no_text, failing])

    # Then: the results the reference gives
    assert tasks[summed]["result"] == {"output": 15}
    assert tasks[empty_sum]["result"] == {"output": 0}
    assert tasks[other]["result"] == {"output": "processed"}
    assert tasks[no_text]["result"] == {"output": ""}
    for task_id in (summed, empty_sum, other, no_text):
        assert tasks[task_id]["status"] == "completed"
        assert tasks[task_id]["attempts"] == 1
        assert tasks[task_id]["error"] is None
    assert tasks[other]["payload"]["data"] == {"width": 10}
    assert tasks[empty_sum]["payload"]["data"] == {}

    # And: the failing one went through retrying to dead, keeping its error
    dead = tasks[failing]
    assert dead["status"] == "dead"
    assert dead["attempts"] == 2
    assert dead["result"] is None
    assert isinstance(dead["error"], str) and "'x'" in dead["error"], dead["error"]
    # With the innermost frames of where the action raised, for the user's own debugging
    assert dead["traceback"].startswith("Traceback (most recent call last):"), dead["traceback"]
    assert "in total" in dead["traceback"] and dead["traceback"].endswith(dead["error"])
    assert dead["processed_at"] >= dead["created_at"]
    wait_for_log(service, rf"task failed task_id={failing} .*attempt=1\b")
    wait_for_log(service, rf"task failed task_id={failing} .*attempt=2\b")

    # And: each state lists exactly its tasks
    assert list_tasks(service.base_url, status="dead") == {
        "tasks": [dead],
        "count": 1,
        "next_cursor": None,
    }
    completed = list_tasks(service.base_url, status="completed")
    assert completed["count"] == 4
    assert {task["id"] for task in completed["tasks"]} == {summed, empty_sum, other, no_text}
    assert list_tasks(service.base_url, status="retrying")["count"] == 0


def test_a_failed_attempt_is_listed_as_retrying_during_its_backoff(db_url, start_service):
    service = start_service(
        db_url, "--simulated-work", "0", "--max-attempts", "2", "--retry-backoff", "1"
    )
    failing = submit(service.base_url, "sum", {"numbers": ["not a number"]})

    # When: the first attempt has failed (the retry waits 1 to 1.25 s)
    retrying = wait_for_status(service.base_url, failing, "retrying")

    # Then: it is listed under ?status=retrying, with the error of that attempt
    assert retrying["attempts"] == 1
    assert "not a number" in retrying["error"]
    assert retrying["processed_at"] is None
    assert [t["id"] for t in list_tasks(service.base_url, status="retrying")["tasks"]] == [failing]

    # And: the second attempt makes it dead
    dead = wait_for_status(service.base_url, failing, "dead")
    assert dead["attempts"] == 2
    assert list_tasks(service.base_url, status="retrying")["count"] == 0


def test_newest_first_within_one_second_and_limit(db_url, start_service):
    service = start_service(db_url, "--simulated-work", "0")

    # Given: tasks accepted one by one and in a batch, all within well under a second
    ids = [submit(service.base_url, "step", {"n": n}) for n in range(5)]
    batch = [{"action": "step", "data": {"n": n}} for n in range(5, 10)]
    response = post_json(service.base_url, batch)
    assert response.status == 202
    ids += [task["id"] for task in response.json()["tasks"]]

    # When
    listing = list_tasks(service.base_url)

    # Then: newest first by acceptance order, even between tasks of the same second
    assert [task["id"] for task in listing["tasks"]] == ids[::-1]
    assert listing["count"] == 10
    seconds = [task["created_at"] for task in listing["tasks"]]
    assert seconds == sorted(seconds, reverse=True)
    assert len(set(seconds)) < len(seconds), "expected tasks sharing a created_at second"

    # And: ?limit= keeps the newest
    assert [task["id"] for task in list_tasks(service.base_url, limit=3)["tasks"]] == ids[:-4:-1]
    assert list_tasks(service.base_url, limit=3)["count"] == 3
    assert list_tasks(service.base_url, limit=1)["tasks"][0]["id"] == ids[-1]


def test_listing_defaults_to_100_rows_and_allows_up_to_1000(db_url, start_service):
    service = start_service(db_url, "--simulated-work", "0")
    batch = [{"action": "bulk", "data": {"n": n}} for n in range(150)]
    response = post_json(service.base_url, batch)
    assert response.status == 202
    ids = [task["id"] for task in response.json()["tasks"]]

    default = list_tasks(service.base_url)
    assert default["count"] == 100
    assert [task["id"] for task in default["tasks"]] == ids[:-101:-1]
    everything = list_tasks(service.base_url, limit=1000)
    assert everything["count"] == 150
    assert [task["id"] for task in everything["tasks"]] == ids[::-1]


def test_unknown_task_id_is_a_json_404(db_url, start_service):
    service = start_service(db_url)
    submit(service.base_url, "uppercase", {"text": "x"})
    for unknown in ("0b9f5c4e-8a43-4c59-9a3e-5d1f2b8f0c11", "not-a-uuid"):
        response = request(service.base_url, "GET", f"/tasks/{unknown}")
        assert response.status == 404
        assert response.content_type == "application/json"
        assert response.json() == {"error": "task not found"}


def test_bulk_post_accepts_every_task(db_url, start_service):
    service = start_service(db_url, "--simulated-work", "0")

    # When: a JSON array of tasks
    response = post_json(
        service.base_url,
        [
            {"action": "uppercase", "data": {"text": "bulk"}},
            {"action": "sum", "data": {"numbers": [1, 2, 3]}},
            {"action": "anything"},
        ],
    )

    # Then: 202 with one {"id", "status"} per task, in order
    assert response.status == 202, response.body
    assert response.content_type == "application/json"
    body = response.json()
    assert set(body) == {"tasks", "count"}
    assert body["count"] == 3
    assert [set(task) for task in body["tasks"]] == [{"id", "status"}] * 3
    assert [task["status"] for task in body["tasks"]] == ["queued"] * 3
    ids = [task["id"] for task in body["tasks"]]
    assert all(is_task_id(task_id) for task_id in ids)
    assert len(set(ids)) == 3

    # And: each runs as if posted alone
    tasks = wait_until_all(service.base_url, ids)
    assert [tasks[task_id]["result"] for task_id in ids] == [
        {"output": "BULK"},
        {"output": 6},
        {"output": "processed"},
    ]
    assert [tasks[task_id]["status"] for task_id in ids] == ["completed"] * 3
    assert tasks[ids[2]]["payload"] == {
        "id": ids[2],
        "action": "anything",
        "data": {},
        "created_at": tasks[ids[2]]["created_at"],
    }
    assert get_task(service.base_url, ids[0]) == tasks[ids[0]]


@pytest.mark.parametrize(
    ("batch", "bad_index"),
    [
        ([{"action": "a"}, {"action": "b"}, {"action": ""}], 2),
        ([{"action": "a"}, 5, {"action": "c"}], 1),
        ([{"action": "a"}, {"action": "b", "data": []}], 1),
        ([{"action": "a"}, {"action": "b"}, {"action": "c", "extra": 1}], 2),
    ],
)
def test_bulk_post_with_one_invalid_task_stores_nothing(db_url, start_service, batch, bad_index):
    service = start_service(db_url, "--simulated-work", "0")
    submit(service.base_url, "before")
    before = list_tasks(service.base_url, limit=1000)["count"]

    # When: one item of the array is invalid
    response = post_json(service.base_url, batch)

    # Then: 400 naming that item, and none of the valid ones was stored
    assert response.status == 400
    assert response.content_type == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert re.search(rf"\b{bad_index}\b", body["error"]), body["error"]
    assert list_tasks(service.base_url, limit=1000)["count"] == before == 1
