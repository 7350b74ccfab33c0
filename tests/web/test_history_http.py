"""Safe retries, waiting, paging, history and diagnosis over HTTP, on one real service."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import orjson
import pytest

from tests.conftest import ServiceProcess

from .client import get_task, post_json, request, submit, wait_for, wait_for_status

pytestmark = pytest.mark.system

THREADS = 4
MAX_WAITERS = 2
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> Iterator[ServiceProcess]:
    folder = tmp_path_factory.mktemp("history")
    process = ServiceProcess(
        f"sqlite:///{folder}/tasks.db",
        folder / "service.log",
        "--simulated-work",
        "0",
        "--retry-backoff",
        "30",
        "--max-attempts",
        "2",
        "--poll-interval",
        "0.1",
        "--threads",
        str(THREADS),
        "--max-waiters",
        str(MAX_WAITERS),
        "--actions",
        "tests.web.control_actions",
    )
    process.start()
    yield process
    process.stop()


def post(service, body, key: str | None = None):
    headers = dict(JSON)
    if key is not None:
        headers["Idempotency-Key"] = key
    return request(service.base_url, "POST", "/tasks", orjson.dumps(body), headers)


# -- idempotency ----------------------------------------------------------------------------


def test_the_same_key_and_request_replays_the_original_answer(service):
    body = {"action": "uppercase", "data": {"text": "once"}, "priority": 3}
    first = post(service, body, "order-1")
    assert first.status == 202 and "idempotent-replayed" not in first.headers
    again = post(
        service, {"priority": 3, "data": {"text": "once"}, "action": "uppercase"}, "order-1"
    )
    assert again.status == 202, again.body
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["location"] == f"/tasks/{first.json()['id']}"
    listed = [t for t in request(service.base_url, "GET", "/tasks?limit=1000").json()["tasks"]]
    assert sum(1 for t in listed if t["payload"]["data"] == {"text": "once"}) == 1


def test_the_same_key_with_another_request_is_a_422(service):
    assert post(service, {"action": "uppercase", "data": {"n": 1}}, "order-2").status == 202
    refused = post(service, {"action": "uppercase", "data": {"n": 2}}, "order-2")
    assert refused.status == 422, refused.body
    assert refused.json() == {"error": "idempotency key reused with a different request"}


def test_a_scheduled_task_replays_as_scheduled(service):
    body = {"action": "uppercase", "delay": 3600}
    first = post(service, body, "later-1")
    assert first.json()["status"] == "scheduled"
    assert post(service, body, "later-1").json() == first.json()


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "tab\there"])
def test_a_bad_key_is_a_400(service, key):
    response = request(
        service.base_url,
        "POST",
        "/tasks",
        b'{"action": "x"}',
        {**JSON, "Idempotency-Key": key.encode("utf-8").decode("latin-1")},
    )
    assert response.status == 400 and "Idempotency-Key" in response.json()["error"]


def test_many_requests_with_one_key_at_once_make_exactly_one_task(service):
    body = {"action": "uppercase", "data": {"text": "race"}}
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: post(service, body, "race-1"), range(16)))
    assert {answer.status for answer in answers} <= {202, 409}
    ids = {answer.json()["id"] for answer in answers if answer.status == 202}
    assert len(ids) == 1
    tasks = request(service.base_url, "GET", "/tasks?limit=1000").json()["tasks"]
    assert sum(1 for t in tasks if t["payload"]["data"] == {"text": "race"}) == 1


def test_batch_items_carry_their_own_keys(service):
    batch = [
        {"action": "uppercase", "data": {"b": 1}, "idempotency_key": "batch-1"},
        {"action": "uppercase", "data": {"b": 2}, "idempotency_key": "batch-2"},
    ]
    first = post(service, batch)
    assert first.status == 202
    again = post(service, [batch[0], {"action": "uppercase", "data": {"b": 3}}])
    assert again.status == 202
    [replayed, new] = again.json()["tasks"]
    assert replayed == {**first.json()["tasks"][0], "replayed": True}
    assert "replayed" not in new
    mismatch = post(
        service, [{"action": "uppercase", "data": {"b": 9}, "idempotency_key": "batch-2"}]
    )
    assert mismatch.status == 422
    assert mismatch.json()["error"] == "idempotency key reused with a different request"
    repeated = post(service, [batch[0], batch[0]])
    assert repeated.status == 400 and "repeated" in repeated.json()["error"]
    header_on_batch = post(service, batch, "batch-key")
    assert header_on_batch.status == 400


# -- waiting --------------------------------------------------------------------------------


def test_wait_answers_as_soon_as_the_task_finishes(service):
    task_id = submit(service.base_url, "until_canceled", {"seconds": 1})
    started = time.monotonic()
    response = request(service.base_url, "GET", f"/tasks/{task_id}?wait=20")
    elapsed = time.monotonic() - started
    assert response.status == 200
    assert response.json()["status"] == "completed"
    assert elapsed < 15, elapsed  # woken at its end (1 s of work), not at the wait's end


def test_wait_answers_at_its_end_with_the_task_as_it_is(service):
    task_id = post_json(service.base_url, {"action": "uppercase", "delay": 3600}).json()["id"]
    response = request(service.base_url, "GET", f"/tasks/{task_id}?wait=0.5")
    assert response.status == 200 and response.json()["status"] == "scheduled"
    assert "retry-after" not in response.headers


@pytest.mark.parametrize("wait", ["-1", "61", "soon", ""])
def test_a_bad_wait_is_a_400(service, wait):
    task_id = submit(service.base_url, "uppercase")
    response = request(service.base_url, "GET", f"/tasks/{task_id}?wait={wait}")
    assert response.status == 400 and "wait" in response.json()["error"]


def test_waiters_past_the_bound_answer_at_once_and_posts_keep_being_answered(service):
    # Given as many waiters as there are request threads, on tasks that wait an hour
    ids = [
        post_json(service.base_url, {"action": "uppercase", "delay": 3600}).json()["id"]
        for _ in range(THREADS)
    ]
    answers: list = []
    done = threading.Event()

    def wait_on(task_id):
        answers.append(request(service.base_url, "GET", f"/tasks/{task_id}?wait=10"))
        if len(answers) == THREADS:
            done.set()

    threads = [threading.Thread(target=wait_on, args=(i,)) for i in ids]
    for thread in threads:
        thread.start()
    # Then the ones past --max-waiters answer at once, with Retry-After
    wait_for(
        lambda: sum(1 for a in answers if "retry-after" in a.headers) >= THREADS - MAX_WAITERS,
        message=lambda: f"{THREADS - MAX_WAITERS} immediate answers; got {len(answers)}",
    )
    # And POSTs are answered while the others wait
    for n in range(5):
        assert submit(service.base_url, "uppercase", {"n": n})
    assert len(answers) == THREADS - MAX_WAITERS  # the waiters still wait
    # Cancel the awaited tasks: their waiters are woken
    for task_id in ids:
        request(service.base_url, "POST", f"/tasks/{task_id}/cancel")
    assert done.wait(15)
    for thread in threads:
        thread.join(15)
    waited = [a for a in answers if "retry-after" not in a.headers]
    assert [a.json()["status"] for a in waited] == ["canceled"] * MAX_WAITERS


# -- paging ---------------------------------------------------------------------------------


def test_pages_follow_the_cursor_and_skip_nothing(service):
    mine = [
        post_json(service.base_url, {"action": "pager", "queue": "paging"}).json()["id"]
        for _ in range(7)
    ]
    seen = []
    path = "/tasks?queue=paging&action=pager&limit=3"
    while path:
        page = request(service.base_url, "GET", path).json()
        seen += [t["id"] for t in page["tasks"]]
        assert page["count"] == len(page["tasks"])
        # a matching task arriving between pages is newer: it shows in no later page
        post_json(service.base_url, {"action": "pager", "queue": "paging"})
        cursor = page["next_cursor"]
        path = f"/tasks?queue=paging&action=pager&limit=3&cursor={cursor}" if cursor else None
    assert seen == mine[::-1]


def test_a_listing_cuts_a_big_payload_and_result_and_stays_json(service):
    text = "é" * 6000
    task_id = submit(service.base_url, "uppercase", {"text": text})
    wait_for_status(service.base_url, task_id, "completed")
    # The listing parses, and says what it cut: the first 4,096 characters, as text
    page = request(service.base_url, "GET", "/tasks?action=uppercase&limit=1000").json()
    [listed] = [task for task in page["tasks"] if task["id"] == task_id]
    assert listed["truncated"] is True
    assert listed["payload"].startswith('{"id":') and len(listed["payload"]) == 4096
    assert listed["result"] == '{"output":"' + "É" * (4096 - 11)
    # The task itself is whole
    assert get_task(service.base_url, task_id)["result"] == {"output": text.upper()}


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("offset=5", "offset"),
        ("sort=created_at", "sort"),
        ("cursor=garbage", "cursor"),
        ("created_after=yesterday", "created_after"),
        ("queue=a%20b", "queue"),
        ("status=queued,nope", "status"),
    ],
)
def test_an_unknown_or_bad_parameter_is_a_400_naming_it(service, query, named):
    response = request(service.base_url, "GET", f"/tasks?{query}")
    assert response.status == 400 and named in response.json()["error"], response.body


def test_every_endpoint_refuses_parameters_it_does_not_know(service):
    task_id = submit(service.base_url, "uppercase")
    for path in (f"/tasks/{task_id}?limit=1", "/queues?x=1", f"/tasks/{task_id}/events?all=1"):
        response = request(service.base_url, "GET", path)
        assert response.status == 400, (path, response.body)


# -- history and diagnosis ------------------------------------------------------------------


def test_the_history_of_a_task_that_failed_then_was_retried_by_hand(service):
    task_id = submit(service.base_url, "refuses")
    wait_for_status(service.base_url, task_id, "dead")
    assert request(service.base_url, "POST", f"/tasks/{task_id}/retry").status == 200
    wait_for(
        lambda: (
            get_task(service.base_url, task_id)["attempts"] == 2
            and get_task(service.base_url, task_id)["status"] == "dead"
        ),
        message="the second attempt",
    )
    events = request(service.base_url, "GET", f"/tasks/{task_id}/events").json()["events"]
    assert [e["kind"] for e in events] == [
        "created",
        "claimed",
        "started",
        "failed",
        "retried_by_hand",
        "claimed",
        "started",
        "failed",
    ]
    assert events[3]["then"] == "dead" and events[4]["by"] == "127.0.0.1"
    assert events == sorted(events, key=lambda e: e["at"])
    missing = request(service.base_url, "GET", "/tasks/no-such-task/events")
    assert missing.status == 404


def diagnosis(service, task_id):
    response = request(service.base_url, "GET", f"/tasks/{task_id}/diagnosis")
    assert response.status == 200, response.body
    return response.json()


def codes(found):
    return [reason["code"] for reason in found["reasons"]]


def test_diagnosis_of_scheduled_backoff_paused_and_finished_tasks(service):
    later = post_json(service.base_url, {"action": "uppercase", "delay": 3600}).json()["id"]
    found = diagnosis(service, later)
    assert (found["status"], found["runnable"], codes(found)) == ("scheduled", False, ["scheduled"])
    assert "due in 3" in found["reasons"][0]["message"]
    failing = submit(service.base_url, "fails", {"n": 3})  # retries in 30 s
    wait_for_status(service.base_url, failing, "retrying")
    found = diagnosis(service, failing)
    assert codes(found) == ["backoff"] and "retry 2 of 2" in found["reasons"][0]["message"]
    assert "failing on purpose 3" in found["reasons"][0]["message"]
    request(service.base_url, "POST", "/queues/diagnosed/pause")
    paused = post_json(service.base_url, {"action": "uppercase", "queue": "diagnosed"}).json()["id"]
    found = diagnosis(service, paused)
    assert (found["runnable"], codes(found)) == (False, ["queue_paused", "workers_busy"])
    assert "POST /queues/diagnosed/resume" in found["reasons"][0]["message"]
    request(service.base_url, "POST", "/queues/diagnosed/resume")
    wait_for_status(service.base_url, paused, "completed")
    assert codes(diagnosis(service, paused)) == ["completed"]
    dead = submit(service.base_url, "refuses")
    wait_for_status(service.base_url, dead, "dead")
    found = diagnosis(service, dead)
    assert (
        codes(found) == ["dead"] and "this input can never work" in found["reasons"][0]["message"]
    )


def test_diagnosis_of_a_running_task_asked_to_cancel_and_of_a_full_worker_pool(service):
    # Fill every worker (2) with tasks that run until canceled, then one more waits
    running = [submit(service.base_url, "until_canceled", {"seconds": 30}) for _ in range(2)]
    for task_id in running:
        wait_for_status(service.base_url, task_id, "running")
    behind = submit(service.base_url, "until_canceled", {"seconds": 30})
    found = diagnosis(service, behind)
    # It may be prefetched (running) or still queued behind the busy workers
    assert codes(found) in (["workers_busy"], ["running"]), found
    found = diagnosis(service, running[0])
    assert codes(found) == ["running"] and "heartbeat" in found["reasons"][0]["message"]
    request(service.base_url, "POST", f"/tasks/{running[0]}/cancel")
    found = diagnosis(service, running[0])
    assert codes(found)[0] in ("cancel_requested", "canceled"), found
    for task_id in [*running, behind]:
        request(service.base_url, "POST", f"/tasks/{task_id}/cancel")
    for task_id in [*running, behind]:
        wait_for_status(service.base_url, task_id, "canceled")
    assert "canceled by 127.0.0.1" in diagnosis(service, running[1])["reasons"][0]["message"]


def test_nodes_lists_this_one_alive(service):
    [node] = request(service.base_url, "GET", "/nodes").json()["nodes"]
    assert node["state"] == "alive" and node["workers"] == 2 and node["queues"] is None


def test_stats_count_the_minutes(service):
    submit(service.base_url, "uppercase")
    minutes = request(service.base_url, "GET", "/stats").json()["minutes"]
    assert minutes and sum(m["completed"] for m in minutes) >= 1


def test_dead_letters_are_grouped_and_a_group_is_retried_by_filter(service):
    ids = [submit(service.base_url, "refuses") for _ in range(3)]
    other = submit(service.base_url, "fails", {"n": "dl"})
    for task_id in ids:
        wait_for_status(service.base_url, task_id, "dead")
    body = request(service.base_url, "GET", "/dead-letters").json()
    group = next(g for g in body["groups"] if g["action"] == "refuses")
    assert group["error"] == "Permanent: this input can never work"
    assert group["count"] >= 3 and body["complete"] is True
    retried = request(
        service.base_url,
        "POST",
        "/tasks/retry",
        orjson.dumps({"filter": {"status": "dead", "action": "refuses", "error": group["error"]}}),
        JSON,
    )
    assert retried.status == 200 and retried.json()["changed"] == group["count"]
    assert get_task(service.base_url, other)["attempts"] >= 1
    for task_id in ids:
        wait_for(
            lambda i=task_id: get_task(service.base_url, i)["attempts"] == 2,
            message="the retried attempt",
        )
