"""Database trouble over real HTTP: another process holds the write lock for a while.

On SQLite the test opens the file itself and runs ``BEGIN EXCLUSIVE``; on
PostgreSQL it takes ``LOCK TABLE tasks IN EXCLUSIVE MODE`` (reads still
pass, every write waits). Meanwhile four clients keep posting. Each POST
must answer 202 (the task is then stored and later completed) or 503 with a
JSON error and Retry-After, within a bound; once the lock is gone, the same
process accepts again and completes what it accepted.
"""

from __future__ import annotations

import contextlib
import http.client
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson
import psycopg2
import pytest
from playhouse.db_url import parse

from tests.web.client import list_tasks, request, wait_until_all

pytestmark = pytest.mark.system

CLIENTS = 4
ACCEPT_TIMEOUT_SECONDS = 10.0  # models.intake.ACCEPT_TIMEOUT_SECONDS: the longest a POST may wait
ANSWER_BOUND_SECONDS = ACCEPT_TIMEOUT_SECONDS + 5.0  # plus a slow machine's margin
CLIENT_TIMEOUT_SECONDS = 60.0  # far past the bound: a hang is measured, not cut short
LOCKED_PHASE_TIMEOUT_SECONDS = 30.0
RECOVERY_TIMEOUT_SECONDS = 30.0


@contextlib.contextmanager
def write_lock(db_url: str) -> Iterator[None]:
    """Hold the database's write lock from another connection until the block ends."""
    if db_url.startswith("sqlite:///"):
        connection = sqlite3.connect(db_url[len("sqlite:///") :], isolation_level=None, timeout=30)
        connection.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            connection.execute("ROLLBACK")
            connection.close()
    else:
        params = parse(db_url)
        connection = psycopg2.connect(dbname=params.pop("database"), **params)
        try:
            connection.cursor().execute("LOCK TABLE tasks IN EXCLUSIVE MODE")
            yield
        finally:
            connection.rollback()
            connection.close()


@dataclass(frozen=True)
class Answer:
    sent_locked: bool
    status: int | None  # None: no HTTP answer at all
    seconds: float
    retry_after: str | None
    content_type: str | None
    body: bytes
    task_id: str | None


def test_a_held_write_lock_gives_bounded_503s_then_the_service_recovers(db_url, start_service):
    service = start_service(db_url, "--simulated-work", "0")
    url = urlsplit(service.base_url)
    locked = threading.Event()
    released = threading.Event()
    refused = threading.Event()  # a 503 arrived while the lock was held
    recovered = [threading.Event() for _ in range(CLIENTS)]  # a 202 sent after the release
    answers: list[Answer] = []
    lock = threading.Lock()

    def client(index: int) -> None:
        n = 0
        while not recovered[index].is_set():
            sent_locked = locked.is_set() and not released.is_set()
            body = orjson.dumps({"action": "uppercase", "data": {"text": f"c{index}-{n}"}})
            started = time.monotonic()
            connection = http.client.HTTPConnection(
                url.hostname, url.port, timeout=CLIENT_TIMEOUT_SECONDS
            )
            try:
                connection.request("POST", "/tasks", body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                data = response.read()
                answer = Answer(
                    sent_locked,
                    response.status,
                    time.monotonic() - started,
                    response.getheader("Retry-After"),
                    response.getheader("Content-Type"),
                    data,
                    orjson.loads(data)["id"] if response.status == 202 else None,
                )
            except (OSError, http.client.HTTPException) as exc:
                answer = Answer(
                    sent_locked,
                    None,
                    time.monotonic() - started,
                    None,
                    None,
                    repr(exc).encode(),
                    None,
                )
            finally:
                connection.close()
            with lock:
                answers.append(answer)
            if answer.status == 503 and not released.is_set():
                refused.set()
            if answer.status == 202 and released.is_set() and not sent_locked:
                recovered[index].set()
            if answer.status not in (202, 503):
                return
            n += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    # Given: another connection holds the write lock
    with write_lock(db_url):
        locked.set()
        # When: four clients post while it is held
        for thread in threads:
            thread.start()
        assert refused.wait(LOCKED_PHASE_TIMEOUT_SECONDS), (
            f"no 503 within {LOCKED_PHASE_TIMEOUT_SECONDS}s of the lock; answers so far: "
            f"{[(answer.status, answer.body[:200]) for answer in answers]}"
        )
        # Then: reads are still served meanwhile (neither lock blocks a reader)
        listing = request(service.base_url, "GET", "/tasks?limit=5")
        assert listing.status == 200, listing
        assert set(orjson.loads(listing.body)) == {"tasks", "count", "next_cursor"}, listing
        released.set()
    # When: the lock is gone, the clients go on until each has a 202 again
    for thread in threads:
        thread.join(RECOVERY_TIMEOUT_SECONDS + CLIENT_TIMEOUT_SECONDS)
        assert not thread.is_alive(), (
            "a client never got a 202 after the release; its answers since: "
            f"{[(a.status, a.body[:200]) for a in answers if not a.sent_locked][-5:]}"
        )

    # Then: every POST was answered 202 or 503, within the bound
    assert all(answer.status in (202, 503) for answer in answers), [
        (answer.status, answer.body) for answer in answers if answer.status not in (202, 503)
    ]
    slowest = max(answer.seconds for answer in answers)
    assert slowest < ANSWER_BOUND_SECONDS, f"a POST took {slowest:.1f} s"
    # And: every 503 is a JSON error with Retry-After, every 202 a stored task
    refusals = [answer for answer in answers if answer.status == 503]
    assert refusals and all(answer.sent_locked for answer in refusals), refusals
    for answer in refusals:
        assert answer.content_type == "application/json", answer
        assert set(orjson.loads(answer.body)) == {"error"}, answer
        assert answer.retry_after is not None and answer.retry_after.isdigit(), answer
        assert int(answer.retry_after) >= 1, answer
    accepted = [answer.task_id for answer in answers if answer.status == 202]
    assert len(set(accepted)) == len(accepted)
    # And: the same process completes every task it accepted, without a restart
    tasks = wait_until_all(service.base_url, accepted, ("completed",), RECOVERY_TIMEOUT_SECONDS)
    assert all(task["result"]["output"].startswith("C") for task in tasks.values())
    assert len(list_tasks(service.base_url, limit=1000)["tasks"]) <= len(answers)
    assert service.process.poll() is None
    log = service.log()
    assert "worker restarted" not in log and "unhandled error" not in log, log
