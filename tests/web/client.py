"""A small HTTP client for tests that talk to the real service, and the one bounded wait.

Standard library only (``http.client``), so a test controls every byte it
sends: methods, headers, chunked bodies. Error statuses are returned, never
raised, so a test can assert on them.
"""

from __future__ import annotations

import http.client
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

import orjson

REQUEST_TIMEOUT_SECONDS = 10.0
POLL_INTERVAL_SECONDS = 0.02  # between HTTP calls while waiting on another process
WAIT_TIMEOUT_SECONDS = 15.0

T = TypeVar("T")


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


def request(
    base_url: str,
    method: str,
    path: str,
    body: bytes | Iterable[bytes] | None = None,
    headers: dict[str, str] | None = None,
    chunked: bool = False,
) -> Response:
    """One request on a fresh connection; ``chunked`` sends ``body`` (an iterable) chunked."""
    url = urlsplit(base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=REQUEST_TIMEOUT_SECONDS)
    try:
        connection.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
        response = connection.getresponse()
        data = response.read()
        return Response(
            status=response.status,
            content_type=response.getheader("Content-Type", ""),
            headers={key.lower(): value for key, value in response.getheaders()},
            body=data,
        )
    finally:
        connection.close()


def post_json(base_url: str, value: Any, path: str = "/tasks") -> Response:
    return request(
        base_url, "POST", path, orjson.dumps(value), {"Content-Type": "application/json"}
    )


def submit(base_url: str, action: str, data: dict[str, Any] | None = None) -> str:
    """POST one task; assert the 202 and return its id."""
    task = {"action": action} if data is None else {"action": action, "data": data}
    response = post_json(base_url, task)
    assert response.status == 202, (response.status, response.body)
    return response.json()["id"]


def get_task(base_url: str, task_id: str) -> dict[str, Any]:
    response = request(base_url, "GET", f"/tasks/{task_id}")
    assert response.status == 200, (response.status, response.body)
    return response.json()


def list_tasks(base_url: str, **params: Any) -> dict[str, Any]:
    query = f"?{urlencode(params)}" if params else ""
    response = request(base_url, "GET", f"/tasks{query}")
    assert response.status == 200, (response.status, response.body)
    return response.json()


def task_state(base_url: str, task_id: str) -> str:
    """A task as the API shows it now, for a failure message: never raises."""
    try:
        task = get_task(base_url, task_id)
    except (OSError, http.client.HTTPException, AssertionError) as exc:
        return f"task {task_id} unreadable ({exc!r})"
    return f"task {task_id} {task['status']}, attempts {task['attempts']}, error {task['error']!r}"


def is_task_id(text: str) -> bool:
    """A UUID of version 7, in its canonical text (models/ids.py)."""
    try:
        return uuid.UUID(text).version == 7 and str(uuid.UUID(text)) == text
    except (ValueError, TypeError, AttributeError):
        return False


def wait_for(
    predicate: Callable[[], T],
    timeout: float = WAIT_TIMEOUT_SECONDS,
    message: str | Callable[[], str] = "condition",
) -> T:
    """Call ``predicate`` until it returns something truthy; return that, or fail at ``timeout``.

    The one polling wait of the tests, for what offers no event to block on:
    another process (the service's API, a file it writes) or a thread's
    state. It polls a few times per tenth of a second, bounded by
    ``timeout``. ``message`` says what it waits for; make it a callable that
    also shows the last state seen (it is called once, on failure). The
    predicate's last value is shown too, unless it is just None or False.
    """
    pause = threading.Event()  # never set: wait() is a pause that reads as one
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            if value is not None and value is not False:
                text += f"; last value: {value!r}"
            raise AssertionError(f"timed out after {timeout}s waiting for {text}")
        pause.wait(POLL_INTERVAL_SECONDS)


def wait_for_status(
    base_url: str,
    task_id: str,
    statuses: str | tuple[str, ...],
    timeout: float = WAIT_TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """Wait until the task is in one of ``statuses``; return it."""
    wanted = (statuses,) if isinstance(statuses, str) else statuses
    last: dict[str, Any] = {}

    def reached() -> dict[str, Any] | None:
        nonlocal last
        last = get_task(base_url, task_id)
        return last if last["status"] in wanted else None

    return wait_for(reached, timeout, lambda: f"task {task_id} to be {wanted}; last: {last}")


def wait_until_all(
    base_url: str,
    task_ids: Iterable[str],
    statuses: tuple[str, ...] = ("completed", "dead"),
    timeout: float = WAIT_TIMEOUT_SECONDS,
) -> dict[str, dict[str, Any]]:
    """Wait until every task is in one of ``statuses`` (one listing per poll); return them by id."""
    wanted = set(task_ids)
    last: dict[str, dict[str, Any]] = {}

    def reached() -> dict[str, dict[str, Any]] | None:
        nonlocal last
        last = {
            task["id"]: task
            for task in list_tasks(base_url, limit=1000)["tasks"]
            if task["id"] in wanted
        }
        done = len(last) == len(wanted) and all(t["status"] in statuses for t in last.values())
        return last if done else None

    def progress() -> str:
        counts: dict[str, int] = {}
        for task in last.values():
            counts[task["status"]] = counts.get(task["status"], 0) + 1
        return f"{len(wanted)} tasks to be {statuses}; last seen: {counts}"

    return wait_for(reached, timeout, progress)


def wait_for_log(service: Any, pattern: str, timeout: float = WAIT_TIMEOUT_SECONDS) -> re.Match:
    """Wait until the service's log (copied to a file by a reader thread, so a line can
    trail the HTTP answer that follows it) matches the regular expression ``pattern``."""
    return wait_for(
        lambda: re.search(pattern, service.log()),
        timeout,
        lambda: f"{pattern!r} in the log:\n{service.log()}",
    )


def wait_until_mid_way(base_url: str, timeout: float = WAIT_TIMEOUT_SECONDS) -> dict[str, int]:
    """Wait until some tasks are completed, some running and some still queued."""
    counts: dict[str, int] = {}

    def mid_way() -> dict[str, int] | None:
        counts.clear()
        for task in list_tasks(base_url, limit=1000)["tasks"]:
            counts[task["status"]] = counts.get(task["status"], 0) + 1
        done = counts.get("completed") and counts.get("running") and counts.get("queued")
        return counts if done else None

    return wait_for(
        mid_way,
        timeout,
        lambda: f"some tasks completed, some running and some queued; last seen: {counts}",
    )
