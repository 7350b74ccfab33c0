"""The rest of the shutdown matrix, beyond tests/system/test_shutdown.py.

That module covers SIGTERM and SIGINT with tasks running and queued,
either signal right after the service listens, and SIGTERM while a task
outlives the shutdown timeout. Here: two SIGTERMs in a row; either signal
while a long task runs *and* clients are posting, so that requests are in
flight when the server closes; and the tasks prefetched behind a worker
still busy at the deadline, which must be handed back, not left running.
"""

from __future__ import annotations

import signal
import threading
import time

import pytest

from tests.web.client import submit, task_state, wait_for, wait_for_log, wait_until_all

from .storage import stored_tasks
from .submitters import Submitters

pytestmark = pytest.mark.system

SAMPLE_ACTIONS = "tests.system.sample_actions"
LONG_TASK_SECONDS = 60  # far past every timeout here: only a stop ends it
EXIT_MARGIN_SECONDS = 3.0  # noticing the signal, closing the HTTP server, interpreter exit
POSTS_PER_CLIENT = 150  # bounds the tasks a restart must finish
ACCEPTED_BEFORE_STOP = 20
WAIT_SECONDS = 30.0


def start_clients(service) -> tuple[Submitters, threading.Event]:
    """Two clients posting uppercase tasks; the event is set after ACCEPTED_BEFORE_STOP 202s."""
    busy = threading.Event()

    def make_task(thread: int, n: int):
        if n >= POSTS_PER_CLIENT:
            return None
        return {"action": "uppercase", "data": {"text": f"c{thread}-{n}"}}

    def on_accept(count: int) -> None:
        if count >= ACCEPTED_BEFORE_STOP:
            busy.set()

    return Submitters(service.base_url, make_task, 2, on_accept).start(), busy


def assert_busy(clients: Submitters, busy: threading.Event) -> None:
    assert busy.wait(WAIT_SECONDS), (
        f"the clients got {len(clients.accepted)} of {ACCEPTED_BEFORE_STOP} 202s within "
        f"{WAIT_SECONDS}s; failures: {clients.failures}"
    )


def start_long_task(service, marker) -> str:
    task_id = submit(
        service.base_url,
        "block_first_attempt",
        {"marker": str(marker), "seconds": LONG_TASK_SECONDS},
    )
    wait_for(
        marker.exists,
        WAIT_SECONDS,
        lambda: (
            "the long task's first attempt to start (no marker yet); "
            + task_state(service.base_url, task_id)
        ),
    )
    return task_id


def assert_all_completed_after_restart(start_service, db_url, flags, long_task, accepted):
    restarted = start_service(db_url, *flags)
    tasks = wait_until_all(
        restarted.base_url, [long_task, *accepted], ("completed", "dead"), WAIT_SECONDS
    )
    for task_id, task in accepted.items():
        assert tasks[task_id]["status"] == "completed", tasks[task_id]
        assert tasks[task_id]["result"] == {"output": task["data"]["text"].upper()}
    # The interrupted long task was taken back at the start and ran again
    assert tasks[long_task]["status"] == "completed", tasks[long_task]
    assert tasks[long_task]["result"] == {"output": "later attempt"}
    assert tasks[long_task]["attempts"] == 2, tasks[long_task]
    assert f"task rescued task_id={long_task}" in restarted.log()


def test_a_second_sigterm_exits_0_at_once_and_loses_nothing(db_url, start_service, tmp_path):
    # Given: a graceful stop that would wait 30 s for a long task, with clients posting
    flags = ("--actions", SAMPLE_ACTIONS, "--simulated-work", "0.01", "--shutdown-timeout", "30")
    service = start_service(db_url, *flags)
    long_task = start_long_task(service, tmp_path / "long-task-started")
    clients, busy = start_clients(service)
    assert_busy(clients, busy)

    # When: SIGTERM, and once the service has begun stopping, SIGTERM again
    service.signal(signal.SIGTERM)
    wait_for_log(service, r"stopping signal=SIGTERM", WAIT_SECONDS)
    started = time.monotonic()
    service.signal(signal.SIGTERM)
    code = service.wait(WAIT_SECONDS)
    elapsed = time.monotonic() - started
    clients.join()

    # Then: exit 0 at once, not after the shutdown timeout
    assert code == 0, service.log()
    assert elapsed < EXIT_MARGIN_SECONDS, f"exited {elapsed:.1f} s after the second SIGTERM"
    assert "second signal: exiting now" in service.log()
    assert not clients.failures, clients.failures
    # And: every 202 was on disk at the exit, and a restart completes all of them
    assert set(clients.accepted) <= set(stored_tasks(db_url))
    assert_all_completed_after_restart(start_service, db_url, flags, long_task, clients.accepted)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_during_a_long_task_with_requests_in_flight(db_url, start_service, tmp_path, signum):
    timeout = 1.0
    flags = (
        "--actions",
        SAMPLE_ACTIONS,
        "--simulated-work",
        "0.01",
        "--shutdown-timeout",
        str(timeout),
    )
    service = start_service(db_url, *flags)
    # Given: a task that outlives the shutdown timeout is running, and clients are posting
    long_task = start_long_task(service, tmp_path / "long-task-started")
    clients, busy = start_clients(service)
    assert_busy(clients, busy)

    # When
    started = time.monotonic()
    service.signal(signum)
    code = service.wait(timeout + EXIT_MARGIN_SECONDS + WAIT_SECONDS)
    elapsed = time.monotonic() - started
    clients.join()

    # Then: a graceful exit 0 within the shutdown timeout (plus the margin)
    assert code == 0, service.log()
    assert elapsed < timeout + EXIT_MARGIN_SECONDS, f"took {elapsed:.1f} s to exit"
    log = service.log()
    assert f"stopping signal={signum.name}" in log and "stopped" in log, log
    assert "worker still busy at shutdown" in log, log
    # And: requests in flight were answered 202, or never answered; never an error
    assert not clients.failures, clients.failures
    # And: only the long task is left running; every other 202 is stored completed or
    # queued, those handed back unstarted with their attempt refunded
    at_exit = stored_tasks(db_url)
    assert at_exit[long_task]["status"] == "running"
    assert set(clients.accepted) <= set(at_exit)
    left = {task_id: at_exit[task_id] for task_id in clients.accepted}
    assert {row["status"] for row in left.values()} <= {"completed", "queued"}
    assert all(row["attempts"] == 0 for row in left.values() if row["status"] == "queued")
    assert_all_completed_after_restart(start_service, db_url, flags, long_task, clients.accepted)


def test_a_graceful_stop_hands_back_the_tasks_queued_behind_a_busy_worker(
    db_url, start_service, tmp_path
):
    """README, Graceful stop: prefetched tasks that had not started are returned,
    their attempt refunded; only a task still running at the deadline stays running."""
    flags = (
        "--actions",
        SAMPLE_ACTIONS,
        "--workers",
        "1",
        "--prefetch",
        "5",
        "--shutdown-timeout",
        "0.5",
    )
    service = start_service(db_url, *flags)
    # Given: the one worker busy with a long task, four more prefetched behind it
    long_task = start_long_task(service, tmp_path / "long-task-started")
    behind = [submit(service.base_url, "uppercase", {"text": str(n)}) for n in range(4)]
    seen: list[str] = []

    def prefetched() -> bool:
        stored = stored_tasks(db_url)
        seen[:] = [stored[t]["status"] for t in behind]
        return seen == ["running"] * 4

    wait_for(
        prefetched, WAIT_SECONDS, lambda: f"the four tasks to be prefetched; last seen: {seen}"
    )

    # When: a graceful stop outlasts the long task's deadline
    service.signal(signal.SIGTERM)
    assert service.wait(WAIT_SECONDS) == 0, service.log()

    # Then: only the long task is left running; the four are queued again, attempt refunded
    at_exit = stored_tasks(db_url)
    assert at_exit[long_task]["status"] == "running"
    assert [(at_exit[t]["status"], at_exit[t]["attempts"]) for t in behind] == [("queued", 0)] * 4
