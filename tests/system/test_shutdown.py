"""Graceful stop on SIGTERM/SIGINT, and ``python run.py migrate``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO, ServiceProcess, free_port
from tests.web.client import (
    submit,
    task_state,
    wait_for,
    wait_for_status,
    wait_until_all,
    wait_until_mid_way,
)

from .storage import by_status, stored_tasks

pytestmark = pytest.mark.system

SHUTDOWN_TIMEOUT_SECONDS = 5.0
# Beyond the shutdown timeout: noticing the signal, closing the HTTP server, interpreter exit.
EXIT_MARGIN_SECONDS = 3.0
TASKS = 40
SAMPLE_ACTIONS = "tests.system.sample_actions"


def stop_and_time(service: ServiceProcess, signum: int, timeout: float) -> tuple[int, float]:
    started = time.monotonic()
    service.signal(signum)
    code = service.wait(timeout)
    return code, time.monotonic() - started


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_signal_lets_running_tasks_finish_and_exits_0(db_url, start_service, signum):
    flags = ("--simulated-work", "0.1", "--shutdown-timeout", str(SHUTDOWN_TIMEOUT_SECONDS))
    service = start_service(db_url, *flags)
    ids = [submit(service.base_url, "uppercase", {"text": f"task {n}"}) for n in range(TASKS)]

    # Given: tasks are running, some are done and some still wait
    wait_until_mid_way(service.base_url)

    # When
    code, elapsed = stop_and_time(service, signum, SHUTDOWN_TIMEOUT_SECONDS + EXIT_MARGIN_SECONDS)

    # Then: exit 0 in time, and the running tasks finished instead of being left running
    assert code == 0, service.log()
    assert elapsed < SHUTDOWN_TIMEOUT_SECONDS + EXIT_MARGIN_SECONDS
    assert "stopped" in service.log()
    at_stop = stored_tasks(db_url)
    groups = by_status(at_stop)
    assert set(groups) <= {"completed", "queued"}, groups
    assert groups.get("completed") and groups.get("queued"), groups
    # Tasks handed to a worker but never started were given back with their attempt refunded.
    assert all(at_stop[task_id]["attempts"] == 0 for task_id in groups["queued"])

    # When: the service starts again on the same database
    restarted = start_service(db_url, *flags)
    tasks = wait_until_all(restarted.base_url, ids)

    # Then: every accepted task completed, and none ran twice
    for n, task_id in enumerate(ids):
        assert tasks[task_id]["status"] == "completed"
        assert tasks[task_id]["result"] == {"output": f"TASK {n}"}
        assert tasks[task_id]["attempts"] == 1, tasks[task_id]
    assert "task rescued" not in restarted.log()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_signal_as_soon_as_the_service_listens(sqlite_url, start_service, signum):
    # Given: a service that has just said it listens, with nothing to do
    service = start_service(sqlite_url)

    # When
    code, _ = stop_and_time(service, signum, EXIT_MARGIN_SECONDS)

    # Then: a graceful stop (not the default action of the signal), in no time
    assert code == 0, service.log()
    assert "stopped" in service.log()
    assert "Traceback" not in service.log()


def test_a_task_longer_than_the_shutdown_timeout_is_interrupted_and_runs_after_restart(
    db_url, start_service, tmp_path
):
    timeout = 0.5
    flags = ("--actions", SAMPLE_ACTIONS, "--shutdown-timeout", str(timeout))
    service = start_service(db_url, *flags)
    marker = tmp_path / "first-attempt-started"

    # Given: a task whose first attempt would work for a minute has started
    task_id = submit(
        service.base_url, "block_first_attempt", {"marker": str(marker), "seconds": 60}
    )
    wait_for(
        marker.exists,
        message=lambda: (
            "the first attempt to start (no marker yet); " + task_state(service.base_url, task_id)
        ),
    )

    # When
    code, elapsed = stop_and_time(service, signal.SIGTERM, timeout + EXIT_MARGIN_SECONDS)

    # Then: the stop waited the timeout, no longer, and exited 0
    assert code == 0, service.log()
    assert timeout <= elapsed < timeout + EXIT_MARGIN_SECONDS
    assert "worker still busy at shutdown" in service.log()
    interrupted = stored_tasks(db_url)[task_id]
    assert interrupted["status"] == "running"
    assert interrupted["attempts"] == 1

    # When: the service starts again
    restarted = start_service(db_url, *flags)

    # Then: the interrupted attempt is taken back and the task runs again
    task = wait_for_status(restarted.base_url, task_id, ("completed", "dead"))
    assert task["status"] == "completed"
    assert task["result"] == {"output": "later attempt"}
    assert task["attempts"] == 2
    assert f"task rescued task_id={task_id}" in restarted.log()


def run_migrate(db_url: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "run.py"), "migrate", "--db", db_url],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def test_migrate_exits_0_and_is_harmless_twice(db_url, tmp_path):
    first = run_migrate(db_url, tmp_path)
    assert first.returncode == 0, first
    assert "migration complete" in first.stdout, first

    second = run_migrate(db_url, tmp_path)
    assert second.returncode == 0, second
    assert "migration complete" in second.stdout, second
    assert stored_tasks(db_url) == {}  # the table exists, and is still empty


def test_migrate_keeps_existing_tasks(db_url, start_service, tmp_path):
    service = start_service(db_url, "--simulated-work", "0")
    task_id = submit(service.base_url, "uppercase", {"text": "kept"})
    wait_for_status(service.base_url, task_id, "completed")
    service.signal(signal.SIGTERM)
    assert service.wait(SHUTDOWN_TIMEOUT_SECONDS + EXIT_MARGIN_SECONDS) == 0

    result = run_migrate(db_url, tmp_path)

    assert result.returncode == 0, result
    assert stored_tasks(db_url)[task_id]["status"] == "completed"


def unusable_databases(tmp_path):
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("a regular file where a folder should be\n")
    a_folder = tmp_path / "a-folder"
    a_folder.mkdir()
    not_sqlite = tmp_path / "not-sqlite.db"
    not_sqlite.write_bytes(b"this is not a SQLite database\n" * 200)
    port = free_port()  # nothing listens there
    return {
        "parent-is-a-file": (f"sqlite:///{not_a_folder}/tasks.db", "a-file"),
        "path-is-a-folder": (f"sqlite:///{a_folder}", "unable to open"),
        "not-a-sqlite-file": (f"sqlite:///{not_sqlite}", "not a database"),
        "no-postgresql-there": (f"postgresql://postgres@127.0.0.1:{port}/nothing", str(port)),
        "unknown-scheme": ("mysql://root@localhost/tasks", "mysql"),
    }


UNUSABLE = [
    "parent-is-a-file",
    "path-is-a-folder",
    "not-a-sqlite-file",
    "no-postgresql-there",
    "unknown-scheme",
]


def assert_clear_failure(code: int, output: str, clue: str) -> None:
    assert code != 0, output
    assert "Traceback" not in output, output
    assert clue.lower() in output.lower(), output
    assert len(output.strip().splitlines()) <= 5, output


@pytest.mark.parametrize("case", UNUSABLE)
def test_migrate_on_an_unusable_database_fails_clearly(tmp_path, case):
    url, clue = unusable_databases(tmp_path)[case]

    result = run_migrate(url, tmp_path)

    assert_clear_failure(result.returncode, result.stdout + result.stderr, clue)


@pytest.mark.parametrize("case", UNUSABLE)
def test_serve_on_an_unusable_database_exits_clearly(tmp_path, case):
    url, clue = unusable_databases(tmp_path)[case]
    service = ServiceProcess(url, tmp_path / "service.log")

    service.start(wait=False)
    try:
        code = service.wait(30)
    finally:
        service.stop()

    assert_clear_failure(code, service.log(), clue)
