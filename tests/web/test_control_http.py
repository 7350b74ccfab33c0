"""Control over HTTP: every new field of a task and its bad values, cancel and retry (one,
a list, a filter) with every 409, queues with pause and resume, /actions, unknown actions."""

from __future__ import annotations

import time
from collections.abc import Iterator

import orjson
import pytest

from tests.conftest import ServiceProcess

from .client import (
    get_task,
    list_tasks,
    post_json,
    request,
    submit,
    wait_for,
    wait_for_status,
)

pytestmark = pytest.mark.system

ACTIONS = "tests.web.control_actions"
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> Iterator[ServiceProcess]:
    folder = tmp_path_factory.mktemp("control")
    process = ServiceProcess(
        f"sqlite:///{folder}/tasks.db",
        folder / "service.log",
        "--simulated-work",
        "0",
        "--retry-backoff",
        "0",
        "--max-attempts",
        "2",
        "--poll-interval",
        "0.1",
        "--actions",
        ACTIONS,
    )
    process.start()
    yield process
    process.stop()


def post(service, path: str, body=None):
    """POST ``body`` (any JSON value) as JSON, or nothing at all."""
    return request(
        service.base_url, "POST", path, None if body is None else orjson.dumps(body), JSON
    )


def error_of(response, status: int) -> str:
    assert response.status == status, (response.status, response.body)
    body = response.json()
    assert set(body) == {"error"}, body
    return body["error"]


# -- the fields -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("run_at", "tomorrow"),
        ("run_at", "2026-12-01T10:00:00"),  # no offset
        ("run_at", -1),
        ("run_at", True),
        ("run_at", 1e20),
        ("run_at", [1]),
        ("delay", -1),
        ("delay", "5"),
        ("delay", 1e12),
        ("priority", -1),
        ("priority", 10),
        ("priority", 1.5),
        ("priority", True),
        ("priority", "1"),
        ("queue", ""),
        ("queue", "a b"),
        ("queue", "x" * 65),
        ("queue", 5),
        ("queue", "ü"),
        ("max_attempts", 0),
        ("max_attempts", 101),
        ("max_attempts", 2.5),
        ("max_attempts", True),
        ("timeout", -1),
        ("timeout", 86_401),
        ("timeout", "x"),
    ],
)
def test_a_bad_value_is_a_400_naming_the_field(service, field, value):
    response = post_json(service.base_url, {"action": "uppercase", field: value})
    assert field in error_of(response, 400)
    # in a batch too, with the index
    batch = [{"action": "uppercase"}, {"action": "uppercase", field: value}]
    error = error_of(post_json(service.base_url, batch), 400)
    assert error.startswith("task 1:") and field in error, error


def test_run_at_and_delay_together_is_a_400(service):
    response = post_json(service.base_url, {"action": "x", "run_at": 1, "delay": 1})
    assert "run_at and delay" in error_of(response, 400)


def test_each_field_shows_in_the_task(service):
    task_id = post_json(
        service.base_url,
        {
            "action": "uppercase",
            "data": {"text": "x"},
            "priority": 7,
            "queue": "fields",
            "max_attempts": 9,
            "timeout": 12.5,
        },
    ).json()["id"]
    task = wait_for_status(service.base_url, task_id, "completed")
    assert (task["priority"], task["queue"], task["max_attempts"], task["timeout"]) == (
        7,
        "fields",
        9,
        12.5,
    )
    defaults = get_task(service.base_url, submit(service.base_url, "uppercase"))
    assert (defaults["priority"], defaults["queue"], defaults["max_attempts"]) == (0, "default", 2)
    assert defaults["timeout"] == 900  # --task-timeout's default


def in_an_hour(form: str):
    later = time.time() + 3600
    return {
        "delay": {"delay": 3600},
        "unix": {"run_at": later},
        "rfc3339-offset": {"run_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(later))},
        "rfc3339-z": {"run_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(later))},
    }[form]


@pytest.mark.parametrize("form", ["delay", "unix", "rfc3339-offset", "rfc3339-z"])
def test_a_task_due_later_is_scheduled_until_then(service, form):
    response = post_json(service.base_url, {"action": "uppercase", **in_an_hour(form)})
    assert response.status == 202 and response.json()["status"] == "scheduled", response.body
    task = get_task(service.base_url, response.json()["id"])
    assert task["status"] == "scheduled"
    assert task["run_at"] == pytest.approx(time.time() + 3600, abs=10)
    scheduled = list_tasks(service.base_url, status="scheduled")["tasks"]
    assert task["id"] in {t["id"] for t in scheduled}


def test_a_short_delay_runs_after_it(service):
    before = time.time()
    task_id = post_json(service.base_url, {"action": "uppercase", "delay": 0.5}).json()["id"]
    task = wait_for_status(service.base_url, task_id, "completed")
    assert task["processed_at"] >= int(before + 0.5)
    assert task["run_at"] == pytest.approx(before + 0.5, abs=1)


# -- cancel and retry -------------------------------------------------------------------------


def test_cancel_a_scheduled_task_is_200_and_then_409(service):
    task_id = post_json(service.base_url, {"action": "uppercase", "delay": 3600}).json()["id"]
    response = post(service, f"/tasks/{task_id}/cancel")
    assert response.status == 200, response.body
    assert response.json()["status"] == "canceled"
    assert error_of(post(service, f"/tasks/{task_id}/cancel"), 409) == "task is canceled"


def test_cancel_a_running_task_is_202_and_it_ends_canceled(service):
    task_id = submit(service.base_url, "until_canceled")
    wait_for_status(service.base_url, task_id, "running")
    response = post(service, f"/tasks/{task_id}/cancel")
    assert response.status == 202, response.body
    assert response.json()["cancel_requested"] is True
    task = wait_for_status(service.base_url, task_id, "canceled")
    assert task["error"] == "RuntimeError: stopped early: canceled"


def test_cancel_and_retry_answer_409_naming_the_status_and_404_for_no_task(service):
    done = submit(service.base_url, "uppercase")
    wait_for_status(service.base_url, done, "completed")
    assert error_of(post(service, f"/tasks/{done}/cancel"), 409) == "task is completed"
    dead = submit(service.base_url, "refuses")
    wait_for_status(service.base_url, dead, "dead")
    assert error_of(post(service, f"/tasks/{dead}/cancel"), 409) == "task is dead"
    later = post_json(service.base_url, {"action": "uppercase", "delay": 3600}).json()["id"]
    assert error_of(post(service, f"/tasks/{later}/retry"), 409) == "task is scheduled"
    for verb in ("cancel", "retry"):
        assert error_of(post(service, f"/tasks/no-such-task/{verb}"), 404) == "task not found"


def test_retry_a_dead_task_runs_it_again_with_a_fresh_budget(service):
    task_id = submit(service.base_url, "fails", {"n": 1})
    dead = wait_for_status(service.base_url, task_id, "dead")
    assert (dead["attempts"], dead["max_attempts"]) == (2, 2)
    response = post(service, f"/tasks/{task_id}/retry")
    assert response.status == 200, response.body
    assert response.json()["max_attempts"] == 4
    again = wait_for(
        lambda: (
            (t := get_task(service.base_url, task_id))["attempts"] == 4
            and t["status"] == "dead"
            and t
        ),
        message="the retried task to fail twice more",
    )
    assert again["error"] == "ValueError: failing on purpose 1"


def test_permanent_is_dead_after_one_attempt(service):
    task = wait_for_status(service.base_url, submit(service.base_url, "refuses"), "dead")
    assert (task["attempts"], task["error"]) == (1, "Permanent: this input can never work")


def test_bulk_cancel_and_retry_by_ids_and_by_filter(service):
    ids = [
        post_json(service.base_url, {"action": "uppercase", "queue": "bulk", "delay": 3600}).json()[
            "id"
        ]
        for _ in range(3)
    ]
    result = post(service, "/tasks/cancel", {"ids": [ids[0], "no-such-task"]})
    assert (result.status, result.json()) == (200, {"matched": 1, "changed": 1})
    result = post(service, "/tasks/cancel", {"filter": {"queue": "bulk", "status": "scheduled"}})
    assert (result.status, result.json()) == (200, {"matched": 2, "changed": 2})
    result = post(service, "/tasks/retry", {"filter": {"queue": "bulk"}})
    assert (result.status, result.json()) == (200, {"matched": 3, "changed": 3})
    for task_id in ids:
        wait_for_status(service.base_url, task_id, "completed")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"ids": ["a"], "filter": {}},
        {"ids": []},
        {"ids": ["a"] * 1001},
        {"ids": "a"},
        {"ids": [1]},
        {"filter": []},
        {"filter": {"nope": 1}},
        {"filter": {"status": "bogus"}},
        {"filter": {"queue": "a b"}},
        {"filter": {"status": "completed"}},  # cancel cannot apply to it
        [1],
    ],
)
def test_a_bad_bulk_selection_is_a_400(service, body):
    assert error_of(post(service, "/tasks/cancel", body), 400)


def test_bulk_retry_of_a_status_it_cannot_apply_to_is_a_400(service):
    error = error_of(post(service, "/tasks/retry", {"filter": {"status": "queued"}}), 400)
    assert "filter.status" in error


# -- queues -------------------------------------------------------------------------------------


def test_a_paused_queue_takes_tasks_and_runs_them_only_once_resumed(service):
    paused = post(service, "/queues/held/pause")
    assert paused.status == 200, paused.body
    assert paused.json()["paused"] is True and paused.json()["paused_at"] is not None
    task_id = post_json(service.base_url, {"action": "uppercase", "queue": "held"}).json()["id"]
    other = post_json(service.base_url, {"action": "uppercase", "queue": "free"}).json()["id"]
    wait_for_status(service.base_url, other, "completed")
    assert get_task(service.base_url, task_id)["status"] == "queued"
    queues = {q["name"]: q for q in request(service.base_url, "GET", "/queues").json()["queues"]}
    held = queues["held"]
    assert held["paused"] is True and held["counts"]["queued"] == 1
    assert held["oldest_due_age_seconds"] >= 0
    assert queues["free"]["counts"]["completed"] >= 1 and queues["free"]["paused"] is False
    resumed = post(service, "/queues/held/resume")
    assert resumed.status == 200 and resumed.json()["paused"] is False
    wait_for_status(service.base_url, task_id, "completed")


def test_queue_errors(service):
    assert "queue" in error_of(post(service, "/queues/a%20b/pause"), 400)
    assert error_of(post(service, "/queues/never-seen/resume"), 404)
    assert error_of(request(service.base_url, "GET", "/queues/held/pause"), 405)


def test_actions_lists_every_action_with_where_it_comes_from(service):
    body = request(service.base_url, "GET", "/actions").json()
    actions = {action["name"]: action for action in body["actions"]}
    assert actions["uppercase"]["source"] == "built-in"
    assert actions["until_canceled"]["source"].startswith(ACTIONS)
    assert actions["until_canceled"]["takes_context"] is True
    assert body["unknown_actions"] == "process"


def test_unknown_actions_can_be_rejected(tmp_path, start_service):
    strict = start_service(f"sqlite:///{tmp_path}/strict.db", "--unknown-actions", "reject")
    error = error_of(post_json(strict.base_url, {"action": "uppercse"}), 400)
    assert error == "unknown action 'uppercse'; known: sum, uppercase"
    assert submit(strict.base_url, "uppercase")
