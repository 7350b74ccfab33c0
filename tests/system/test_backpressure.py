"""``--max-queued N`` over real HTTP: past the cap POST answers 503, and accepts again once drained.

The one worker is held busy by a ``gate`` task (tests/system/poison_actions.py)
that blocks on a FIFO until the test opens and closes it, so the backlog
cannot drain while the test fills it.
"""

from __future__ import annotations

import errno
import os
import threading

import orjson
import pytest

import models
from tests.web.client import (
    Response,
    list_tasks,
    post_json,
    task_state,
    wait_for,
    wait_until_all,
)

pytestmark = pytest.mark.system

MAX_QUEUED = 5
BURST = 3 * MAX_QUEUED
WAIT_SECONDS = 30.0
FLAGS = (
    "--actions",
    "tests.system.poison_actions",
    "--max-queued",
    str(MAX_QUEUED),
    "--workers",
    "1",
    "--prefetch",
    "1",
    "--simulated-work",
    "0.01",
)


def hold_the_worker(db_url: str, tmp_path) -> tuple[str, object, object]:
    """Store a gate task straight into the database (so the service's own backlog count
    never saw it queued) and return its id, its started marker and its FIFO."""
    fifo = tmp_path / "gate.fifo"
    os.mkfifo(fifo)
    started = tmp_path / "gate-started"
    store = models.open_store(db_url)
    try:
        row = models.new_task("gate", {"fifo": str(fifo), "started": str(started)})
        store.enqueue([row])
    finally:
        store.close()
    return row["id"], started, fifo


def release(fifo) -> None:
    """Open the gate's FIFO for writing and close it: the blocked reader sees end of file.

    The gate creates its started marker just before it opens the FIFO; until it
    has, opening for writing fails with ENXIO (no reader yet) and is tried again.
    """

    def opened() -> bool:
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError as exc:
            if exc.errno != errno.ENXIO:
                raise
            return False
        return True

    wait_for(
        opened,
        WAIT_SECONDS,
        "the gate task to open its FIFO; opening it for writing still fails with ENXIO",
    )


def assert_queue_full(response: Response) -> None:
    assert response.status == 503, (response.status, response.body)
    assert response.content_type == "application/json"
    error = orjson.loads(response.body)
    assert set(error) == {"error"} and "queue full" in error["error"], error
    retry_after = response.headers.get("retry-after", "")
    assert retry_after.isdigit() and int(retry_after) >= 1, response.headers


def task(n: int) -> dict:
    return {"action": "uppercase", "data": {"text": f"t{n}"}}


def test_max_queued_refuses_past_the_cap_and_accepts_again_once_drained(
    db_url, start_service, tmp_path
):
    service = start_service(db_url, *FLAGS)
    # Given: the only worker is busy with a task that waits for the test
    gate_id, started, fifo = hold_the_worker(db_url, tmp_path)
    wait_for(
        started.exists,
        WAIT_SECONDS,
        lambda: (
            f"the gate task to start (no {started.name} yet); "
            + task_state(service.base_url, gate_id)
        ),
    )

    # When: three times the cap arrive at once
    barrier = threading.Barrier(BURST)
    answers: list[Response | None] = [None] * BURST

    def post(n: int) -> None:
        barrier.wait(WAIT_SECONDS)
        answers[n] = post_json(service.base_url, task(n))

    threads = [threading.Thread(target=post, args=(n,)) for n in range(BURST)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_SECONDS)
        assert not thread.is_alive(), f"a POST got no answer within {WAIT_SECONDS}s"

    # Then: exactly the cap got 202, the rest a JSON 503 with Retry-After
    accepted = [answer.json()["id"] for answer in answers if answer.status == 202]
    assert len(accepted) == MAX_QUEUED, [answer.status for answer in answers]
    for answer in answers:
        if answer.status != 202:
            assert_queue_full(answer)
    # And: a batch is refused whole, and later single tasks too, while the worker is busy
    assert_queue_full(post_json(service.base_url, [task(100), task(101)]))
    assert_queue_full(post_json(service.base_url, task(102)))
    # And: the database holds exactly the cap as backlog: nothing refused was stored
    queued = list_tasks(service.base_url, status="queued", limit=1000)["tasks"]
    assert sorted(t["id"] for t in queued) == sorted(accepted)
    assert len(list_tasks(service.base_url, limit=1000)["tasks"]) == MAX_QUEUED + 1

    # When: the worker is let go and the backlog drains
    release(fifo)
    wait_until_all(service.base_url, [gate_id, *accepted], ("completed",), WAIT_SECONDS)

    # Then: POSTs are accepted again (the count behind the cap is at most 0.5 s stale)
    last: list[Response] = []

    def accepted_again() -> Response | None:
        answer = post_json(service.base_url, task(200))
        last[:] = [answer]
        if answer.status != 202:
            assert_queue_full(answer)
            return None
        return answer

    first = wait_for(
        accepted_again,
        WAIT_SECONDS,
        lambda: f"a POST to be accepted again; last answer: {last[0].status} {last[0].body!r}",
    )
    batch = post_json(service.base_url, [task(201 + n) for n in range(MAX_QUEUED - 1)])
    assert batch.status == 202, batch.body
    later = [first.json()["id"], *(t["id"] for t in batch.json()["tasks"])]
    tasks = wait_until_all(service.base_url, later, ("completed",), WAIT_SECONDS)
    assert [tasks[task_id]["result"] for task_id in later] == [
        {"output": f"T{n}"} for n in range(200, 200 + MAX_QUEUED)
    ]
