"""Schedules, retention and webhooks through the real service: its HTTP answers, a receiver
on 127.0.0.1 that fails twice, a kill -9 before the delivery, a pruned task."""

from __future__ import annotations

import base64

import orjson
import pytest

from tests.actors.receiver import Receiver
from tests.web.client import get_task, post_json, request, submit, wait_for, wait_for_status

pytestmark = pytest.mark.system

SECRET = "whsec_" + base64.b64encode(b"the system tests' webhook secret").decode()
ALLOW_LOOPBACK = ("--webhook-allow-net", "127.0.0.0/8")
JSON = {"Content-Type": "application/json"}


def put(base_url: str, path: str, body) -> tuple[int, dict]:
    response = request(base_url, "PUT", path, orjson.dumps(body), JSON)
    return response.status, response.json()


@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "webhook.secret"
    path.write_text(SECRET + "\n")
    return str(path)


def test_schedules_are_made_listed_run_by_hand_and_removed(sqlite_url, start_service):
    service = start_service(sqlite_url, "--simulated-work", "0")
    url = service.base_url
    body = {
        "cron": "0 3 * * MON-FRI",
        "timezone": "Europe/Berlin",
        "task": {"action": "sum", "data": {"numbers": [1, 2]}, "queue": "nightly"},
    }
    status, created = put(url, "/schedules/nightly", body)
    assert status == 201, created
    assert (created["enabled"], created["catch_up"], created["last_task_id"]) == (True, "one", None)
    assert created["next_fire_at"] > created["created_at"]
    status, replaced = put(url, "/schedules/nightly", {**body, "catch_up": "none"})
    assert (status, replaced["catch_up"]) == (200, "none")
    assert replaced["next_fire_at"] == created["next_fire_at"]
    listed = request(url, "GET", "/schedules").json()["schedules"]
    assert [s["name"] for s in listed] == ["nightly"]
    # Run by hand: a task now, recorded as the schedule's last
    triggered = request(url, "POST", "/schedules/nightly/trigger")
    assert triggered.status == 202, triggered.body
    task = wait_for_status(url, triggered.json()["id"], "completed")
    assert (task["queue"], task["result"]) == ("nightly", {"output": 3})
    assert request(url, "GET", "/schedules/nightly").json()["last_task_id"] == task["id"]
    # Removed: gone, its task stays
    assert request(url, "DELETE", "/schedules/nightly").status == 200
    assert request(url, "GET", "/schedules/nightly").status == 404
    assert request(url, "DELETE", "/schedules/nightly").status == 404
    assert request(url, "POST", "/schedules/nightly/trigger").status == 404
    assert get_task(url, task["id"])["status"] == "completed"


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"cron": "61 * * * *", "task": {"action": "x"}}, "cron"),
        ({"cron": "* * * *", "task": {"action": "x"}}, "cron"),
        ({"task": {"action": "x"}}, "cron"),
        ({"cron": "@hourly", "timezone": "Mars/Olympus", "task": {"action": "x"}}, "timezone"),
        ({"cron": "@hourly"}, "task"),
        ({"cron": "@hourly", "task": {"action": "x", "priority": 12}}, "task.priority"),
        ({"cron": "@hourly", "task": {"action": "x", "delay": 5}}, "task.delay"),
        ({"cron": "@hourly", "task": {"data": {}}}, "task.action"),
        ({"cron": "@hourly", "task": {"action": "x"}, "catch_up": "all"}, "catch_up"),
        ({"cron": "@hourly", "task": {"action": "x"}, "enabled": "yes"}, "enabled"),
        ({"cron": "@hourly", "task": {"action": "x"}, "every": 5}, "'every'"),
        (
            {"cron": "@hourly", "task": {"action": "x", "notify": {"url": "https://a.b/"}}},
            "task.notify",
        ),
    ],
)
def test_a_bad_schedule_gets_a_400_naming_the_field(service, body, named):
    status, answer = put(service.base_url, "/schedules/bad", body)
    assert status == 400, answer
    assert named in answer["error"], answer
    assert request(service.base_url, "GET", "/schedules/bad").status == 404


@pytest.mark.parametrize(
    ("notify", "named"),
    [
        ({"url": "ftp://example.com/x"}, "notify.url"),
        ({"url": "https://"}, "notify.url"),
        ({"url": "https://example.com/" + "x" * 3000}, "notify.url"),
        ({"url": "https://exa mple.com/"}, "notify.url"),
        ({"url": 5}, "notify.url"),
        ("https://example.com/hook", "notify"),
        ({"url": "https://example.com/", "secret": "x"}, "notify"),
    ],
)
def test_a_bad_notify_gets_a_400_naming_it(service, notify, named):
    response = post_json(service.base_url, {"action": "x", "notify": notify})
    assert response.status == 400, response.body
    assert response.json()["error"].startswith(named), response.body


def test_notify_is_refused_by_a_node_that_sends_no_webhooks(service):
    response = post_json(
        service.base_url, {"action": "x", "notify": {"url": "https://example.com/hook"}}
    )
    assert response.status == 400
    assert "--webhook-secret-file" in response.json()["error"]


def test_a_receiver_that_fails_twice_sees_the_third_delivery(
    sqlite_url, start_service, secret_file
):
    answers = {0: (500, b"no"), 1: (502, b"still no")}
    with Receiver(SECRET, lambda n: answers.get(n, (204, b""))) as receiver:
        service = start_service(
            sqlite_url, "--simulated-work", "0", "--webhook-secret-file", secret_file,
            *ALLOW_LOOPBACK,
        )  # fmt: skip
        response = post_json(
            service.base_url,
            {"action": "uppercase", "data": {"text": "hi"}, "notify": {"url": receiver.url}},
        )
        assert response.status == 202, response.body
        task_id = response.json()["id"]
        # The first try at once, then after 5 s, then after 10 s more
        tries = receiver.wait(3, timeout=30)
    assert all(t.signed for t in tries), [t.headers for t in tries]
    assert len({t.headers["webhook-id"] for t in tries}) == 1
    body = orjson.loads(tries[2].body)
    assert (body["id"], body["status"], body["result"]) == (task_id, "completed", {"output": "HI"})

    def delivered():
        [delivery] = request(service.base_url, "GET", f"/tasks/{task_id}/deliveries").json()[
            "deliveries"
        ]
        return delivery if delivery["state"] == "delivered" else None

    delivery = wait_for(delivered, message="the delivery to be recorded as delivered")
    assert [t["status_code"] for t in delivery["tries"]] == [500, 502, 204]
    gaps = [
        b["at"] - a["at"] for a, b in zip(delivery["tries"], delivery["tries"][1:], strict=False)
    ]
    assert 4 <= gaps[0] <= 7 and 9 <= gaps[1] <= 13, gaps
    assert len(receiver.received) == 3


def test_a_kill_9_after_the_final_transition_still_delivers_after_the_restart(
    sqlite_url, start_service, secret_file
):
    with Receiver(SECRET) as receiver:
        # Given a node whose deliveries cannot reach the receiver (loopback is refused)
        first = start_service(
            sqlite_url, "--simulated-work", "0", "--webhook-secret-file", secret_file
        )
        task_id = post_json(
            first.base_url,
            {"action": "uppercase", "data": {"text": "x"}, "notify": {"url": receiver.url}},
        ).json()["id"]
        wait_for_status(first.base_url, task_id, "completed")

        def refused_once():
            [delivery] = request(first.base_url, "GET", f"/tasks/{task_id}/deliveries").json()[
                "deliveries"
            ]
            return delivery if delivery["tries"] else None

        delivery = wait_for(refused_once, message="a first, refused, try")
        assert delivery["state"] == "pending" and "loopback" in delivery["tries"][0]["error"]
        # When it is killed after the task's final transition, before any delivery
        first.kill()
        assert receiver.received == []
        # Then a restart that may reach the receiver delivers it, once
        second = start_service(
            sqlite_url, "--simulated-work", "0", "--webhook-secret-file", secret_file,
            *ALLOW_LOOPBACK,
        )  # fmt: skip
        [received] = receiver.wait(1, timeout=20)
    assert received.signed
    assert orjson.loads(received.body)["id"] == task_id

    def recorded():  # the try is recorded once the receiver's answer is back
        [delivery] = request(second.base_url, "GET", f"/tasks/{task_id}/deliveries").json()[
            "deliveries"
        ]
        return delivery if delivery["state"] == "delivered" else None

    delivery = wait_for(recorded, message="the delivery to be recorded as delivered")
    assert [t["status_code"] for t in delivery["tries"]][-1] == 200
    assert len(receiver.received) == 1


def test_a_pruned_task_is_a_404(sqlite_url, start_service):
    service = start_service(sqlite_url, "--simulated-work", "0", "--retain-completed", "1s")
    task_id = submit(service.base_url, "uppercase", {"text": "short-lived"})
    wait_for_status(service.base_url, task_id, "completed")
    wait_for(
        lambda: request(service.base_url, "GET", f"/tasks/{task_id}").status == 404,
        timeout=30,
        message="the completed task to be pruned",
    )
    assert request(service.base_url, "GET", f"/tasks/{task_id}/events").status == 404
    assert request(service.base_url, "GET", f"/tasks/{task_id}/deliveries").status == 404


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    from tests.web.conftest import serve_module

    yield from serve_module(tmp_path_factory.mktemp("upkeep"))
