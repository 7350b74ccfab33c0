"""Load: sixteen clients post 5,000 tasks while another polls the listings.

Every client keeps one connection open (HTTP keep-alive), as a real client
library would. Every answer is checked: a POST must be a 202, a GET a 200,
so a 5xx (or any other surprise) fails the test.
"""

from __future__ import annotations

import http.client
import signal
import threading
from collections import Counter
from urllib.parse import urlsplit

import orjson
import pytest

from models import STATUSES

from .storage import stored_tasks
from .submitters import wait_until_drained

pytestmark = pytest.mark.system

CLIENTS = 16
POLLED_PATHS = [
    "/tasks",
    *(f"/tasks?status={status}" for status in STATUSES),
    "/tasks?status=completed&limit=1000",
]
TASKS = 5000
CONNECTION_TIMEOUT_SECONDS = 30.0
POSTING_TIMEOUT_SECONDS = 120.0
DRAIN_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0


class KeepAliveClient:
    """One persistent connection; every answer that is not the expected status is kept."""

    def __init__(self, base_url: str) -> None:
        url = urlsplit(base_url)
        self._connection = http.client.HTTPConnection(
            url.hostname, url.port, timeout=CONNECTION_TIMEOUT_SECONDS
        )
        self.unexpected: list[tuple[str, str, object, bytes]] = []

    def call(self, method: str, path: str, expected: int, body: bytes | None = None):
        headers = {"Content-Type": "application/json"} if body is not None else {}
        try:
            self._connection.request(method, path, body, headers)
            response = self._connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.unexpected.append((method, path, repr(exc), b""))
            self._connection.close()  # the next request reconnects
            return None
        if response.status != expected:
            self.unexpected.append((method, path, response.status, data))
            return None
        return orjson.loads(data)

    def close(self) -> None:
        self._connection.close()


def test_sixteen_clients_post_5000_tasks_while_the_listings_are_polled(db_url, start_service):
    service = start_service(db_url, "--simulated-work", "0")
    ids: list[list[str]] = [[] for _ in range(CLIENTS)]
    clients = [KeepAliveClient(service.base_url) for _ in range(CLIENTS)]
    poller = KeepAliveClient(service.base_url)
    posting_done = threading.Event()
    polls = Counter()

    def post(index: int) -> None:
        client = clients[index]
        for n in range(index, TASKS, CLIENTS):
            body = orjson.dumps({"action": "uppercase", "data": {"text": f"task {n}"}})
            accepted = client.call("POST", "/tasks", 202, body)
            if accepted is not None:
                ids[index].append(accepted["id"])

    def poll() -> None:
        while not posting_done.is_set():
            for path in POLLED_PATHS:
                listing = poller.call("GET", path, 200)
                if listing is None:
                    continue
                polls[path] += 1
                if listing["count"] != len(listing["tasks"]):
                    poller.unexpected.append(("GET", path, "count", orjson.dumps(listing)))

    # Given: one thread polling the listings
    polling = threading.Thread(target=poll)
    polling.start()
    # When: sixteen clients post 5,000 tasks between them, one per request
    posters = [threading.Thread(target=post, args=(i,)) for i in range(CLIENTS)]
    try:
        for thread in posters:
            thread.start()
        for thread in posters:
            thread.join(POSTING_TIMEOUT_SECONDS)
            posted = sum(len(client_ids) for client_ids in ids)
            assert not thread.is_alive(), (
                f"a client is still posting after {POSTING_TIMEOUT_SECONDS}s; "
                f"{posted} of {TASKS} accepted so far"
            )
    finally:
        posting_done.set()
        polling.join(CONNECTION_TIMEOUT_SECONDS)
        for client in [*clients, poller]:
            client.close()
    assert not polling.is_alive(), "the poller still waits for an answer"

    # Then: every request got its expected answer (no 5xx), and every id is unique
    unexpected = [call for client in [*clients, poller] for call in client.unexpected]
    assert not unexpected, unexpected[:10]
    assert set(polls) == set(POLLED_PATHS), polls  # each listing answered at least once
    all_ids = [task_id for client_ids in ids for task_id in client_ids]
    assert len(all_ids) == TASKS
    assert len(set(all_ids)) == TASKS

    # When: the backlog drains and the service stops
    wait_until_drained(service.base_url, DRAIN_TIMEOUT_SECONDS)
    service.signal(signal.SIGTERM)
    assert service.wait(STOP_TIMEOUT_SECONDS) == 0, service.log()

    # Then: the database holds exactly those 5,000 tasks, every one completed, none running
    rows = stored_tasks(db_url)
    assert set(rows) == set(all_ids)
    counts = Counter(row["status"] for row in rows.values())
    assert sum(counts.values()) == TASKS
    assert counts == Counter(completed=TASKS), counts
    assert all(row["attempts"] == 1 and row["lease_owner"] is None for row in rows.values())
