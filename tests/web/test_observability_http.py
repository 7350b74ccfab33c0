"""Metrics, liveness and readiness of a real service, and each reason /readyz gives a 503."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import REPO, ServiceProcess

from .client import post_json, request, submit, wait_for, wait_for_log, wait_for_status

pytestmark = pytest.mark.system

SAMPLE_SECONDS = 5.0  # actors/maintenance/sampler.py


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> Iterator[ServiceProcess]:
    folder = tmp_path_factory.mktemp("observability")
    process = ServiceProcess(
        f"sqlite:///{folder}/tasks.db",
        folder / "service.log",
        "--simulated-work",
        "0",
        "--max-attempts",
        "1",
        "--actions",
        "tests.web.control_actions",
    )
    process.start()
    yield process
    process.stop()


def scrape(service) -> dict[tuple[str, tuple], float]:
    response = request(service.base_url, "GET", "/metrics")
    assert response.status == 200
    assert response.content_type.startswith("text/plain"), response.content_type
    samples = {}
    for family in text_string_to_metric_families(response.body.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_what_happened(service):
    before = scrape(service)
    done = [submit(service.base_url, "uppercase", {"text": str(n)}) for n in range(3)]
    dead = submit(service.base_url, "refuses")
    for task_id in done:
        wait_for_status(service.base_url, task_id, "completed")
    wait_for_status(service.base_url, dead, "dead")
    after = scrape(service)

    def grew(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    enqueued = "taskqueue_tasks_enqueued_total"
    assert grew(enqueued, queue="default", action="uppercase") == 3
    assert grew(enqueued, queue="default", action="refuses") == 1
    finished = "taskqueue_tasks_finished_total"
    assert grew(finished, queue="default", action="uppercase", outcome="completed") == 3
    assert grew(finished, queue="default", action="refuses", outcome="dead") == 1
    duration = "taskqueue_task_duration_seconds_count"
    assert grew(duration, queue="default", action="uppercase") == 3
    assert grew("taskqueue_task_queue_wait_seconds_count", queue="default") == 4
    requests = "taskqueue_http_requests_total"
    assert grew(requests, method="POST", route="/tasks", code="202") == 4
    assert value(after, requests, method="GET", route="/tasks/{task_id}", code="200") >= 4
    assert (
        value(after, "taskqueue_workers", state="idle")
        + value(after, "taskqueue_workers", state="busy")
        == 2
    )
    assert value(after, "taskqueue_abandoned_threads") == 0
    assert ("process_resident_memory_bytes", ()) in after  # prometheus-client's own collectors


def test_an_action_nobody_registered_is_one_label(service):
    submit(service.base_url, "made-up-1")
    submit(service.base_url, "made-up-2")
    samples = scrape(service)
    names = {dict(labels).get("action") for (name, labels) in samples if "enqueued" in name}
    assert "unregistered" in names and "made-up-1" not in names


def test_requests_the_gate_refuses_are_counted(service):
    before = scrape(service)
    # A Host the service is not served under (421), and a read another site's page made
    # without an Origin (403)
    assert (
        request(service.base_url, "GET", "/tasks", headers={"Host": "evil.example"}).status == 421
    )
    page_read = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}
    assert request(service.base_url, "GET", "/tasks", headers=page_read).status == 403
    assert request(service.base_url, "GET", "/nowhere", headers=page_read).status == 403
    after = scrape(service)

    def grew(**labels):
        name = "taskqueue_http_requests_total"
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew(method="GET", route="/tasks", code="421") == 1
    assert grew(method="GET", route="/tasks", code="403") == 1
    assert grew(method="GET", route="(unmatched)", code="403") == 1


def test_a_made_up_method_is_one_label(service):
    # Given: requests with methods nobody serves, each of them different
    for n in range(5):
        assert request(service.base_url, f"BREW{n}", "/tasks").status == 405
        assert request(service.base_url, f"BREW{n}", "/no-such-path").status == 404
    # Then: they are counted under one method label, not one series per method sent
    samples = scrape(service)
    methods = {
        dict(labels)["method"]
        for (name, labels) in samples
        if name.startswith("taskqueue_http")
        if "method" in dict(labels)
    }
    assert not any(method.startswith("BREW") for method in methods), methods
    requests = "taskqueue_http_requests_total"
    assert value(samples, requests, method="other", route="(unmatched)", code="405") >= 5
    assert value(samples, requests, method="other", route="(unmatched)", code="404") >= 5


def test_the_tasks_gauge_agrees_with_the_api_after_a_sample(service):
    task_id = post_json(service.base_url, {"action": "uppercase", "queue": "gauged"}).json()["id"]
    wait_for_status(service.base_url, task_id, "completed")
    queues = {q["name"]: q for q in request(service.base_url, "GET", "/queues").json()["queues"]}
    wait_for(
        lambda: (
            value(scrape(service), "taskqueue_tasks", queue="gauged", status="completed")
            == queues["gauged"]["counts"]["completed"]
        ),
        timeout=SAMPLE_SECONDS * 3,
        message="the sampled gauge to catch up",
    )


def test_healthz_and_readyz(service):
    assert request(service.base_url, "GET", "/healthz").json() == {"status": "alive"}
    ready = request(service.base_url, "GET", "/readyz")
    assert ready.status == 200 and ready.json()["status"] == "ready"
    assert set(ready.json()["checks"]) == {
        "migrations",
        "database",
        "database_files",
        "draining",
        "abandoned_threads",
    }


def not_ready(service) -> dict:
    response = request(service.base_url, "GET", "/readyz")
    assert response.status == 503, response.body
    return response.json()["failing"]


def test_readyz_fails_for_a_schema_newer_than_the_code(tmp_path, start_service):
    import models

    db_url = f"sqlite:///{tmp_path}/tasks.db"
    node = start_service(db_url)
    store = models.open_store(db_url)
    with store.write_transaction():
        store.db.execute_sql(
            "INSERT INTO schema_version (version, name, applied_at) VALUES (99, 'future', 0)"
        )
    store.close()
    failing = not_ready(node)
    assert failing == {"migrations": f"schema version 99, this code needs {models.LATEST_VERSION}"}
    assert request(node.base_url, "GET", "/healthz").status == 200


def test_readyz_fails_while_draining_and_healthz_stays_up(tmp_path, start_service):
    node = start_service(f"sqlite:///{tmp_path}/tasks.db", "--drain-seconds", "30")
    node.signal(signal.SIGTERM)
    wait_for_log(node, r"draining seconds=30")
    assert not_ready(node) == {"draining": "the node is stopping"}
    assert request(node.base_url, "GET", "/healthz").status == 200
    node.signal(signal.SIGTERM)  # a second signal exits at once
    assert node.wait(30) == 0


def test_readyz_fails_past_the_abandoned_threads_bound(tmp_path, start_service):
    node = start_service(
        f"sqlite:///{tmp_path}/tasks.db",
        "--max-abandoned-threads",
        "0",
        "--poll-interval",
        "0.1",
        "--actions",
        "tests.web.control_actions",
    )
    task_id = post_json(
        node.base_url, {"action": "ignores_everything", "timeout": 0.3, "data": {"seconds": 60}}
    ).json()["id"]
    wait_for(
        lambda: request(node.base_url, "GET", "/readyz").status == 503,
        message="the abandoned thread to count",
    )
    assert "abandoned threads" in not_ready(node)["abandoned_threads"]
    assert request(node.base_url, "GET", f"/tasks/{task_id}").json()["error"] == (
        "timed out after 0.3 s"
    )


@pytest.mark.postgresql
def test_readyz_fails_when_the_database_hangs_and_recovers(pg_url, start_service):
    import psycopg2
    from playhouse.db_url import parse

    node = start_service(pg_url)
    params = parse(pg_url)
    blocker = psycopg2.connect(dbname=params.pop("database"), **params)
    try:
        cursor = blocker.cursor()
        cursor.execute("LOCK TABLE schema_version IN ACCESS EXCLUSIVE MODE")
        failing = not_ready(node)
        assert failing == {"database": "the database did not answer within 1 s"}
        blocker.rollback()  # the lock goes: the next probes find the database again
        wait_for(
            lambda: request(node.base_url, "GET", "/readyz").status == 200,
            message="readiness to come back",
        )
    finally:
        blocker.close()


def test_measuring_without_events_and_metrics_leaves_out_just_those(tmp_path, start_service):
    """``--measure-without`` (for the benchmark's cost figures) writes no history and
    counts nothing, and the task itself is kept and run as ever."""
    service = start_service(
        f"sqlite:///{tmp_path}/tasks.db",
        "--simulated-work",
        "0",
        "--measure-without",
        "events,metrics",
    )
    wait_for_log(service, r"measuring: left out events, metrics")
    task_id = submit(service.base_url, "uppercase", {"text": "x"})
    task = wait_for_status(service.base_url, task_id, "completed")
    assert task["result"] == {"output": "X"}
    events = request(service.base_url, "GET", f"/tasks/{task_id}/events").json()["events"]
    # "created" is read from the task's own row; claimed, started, completed were events
    assert [event["kind"] for event in events] == ["created"]
    samples = scrape(service)
    assert (
        value(samples, "taskqueue_tasks_enqueued_total", queue="default", action="uppercase") == 0
    )
    assert (
        value(samples, "taskqueue_http_requests_total", method="POST", route="/tasks", code="202")
        == 0
    )
    assert ("process_resident_memory_bytes", ()) in samples  # the endpoint itself still answers


def test_measuring_without_something_unknown_is_a_usage_error(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "run.py",
            "--measure-without",
            "logs",
            "--db",
            f"sqlite:///{tmp_path}/t.db",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "--measure-without" in done.stderr and "'logs'" in done.stderr
