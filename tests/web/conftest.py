"""The one service the HTTP-level input tests of a module share, and what it must survive."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ServiceProcess

from .client import list_tasks

SMALL_MAX_BODY_BYTES = 1024  # small enough that oversized bodies are cheap to send
GOOD_ACTION_PREFIX = "good-"  # the tasks a test of such a module means to store


def serve_module(
    folder: Path, *flags: str, only_good_stored: bool = False
) -> Iterator[ServiceProcess]:
    """A real service on SQLite for one module's tests, without simulated work.

    At teardown, after the module's last test whichever it is, the module fails
    (an error at teardown) unless the service is still running and its log holds
    no unhandled error or traceback; with ``only_good_stored``, also unless every
    task stored has an action starting with ``good-``, since bad input stores nothing.
    """
    process = ServiceProcess(
        f"sqlite:///{folder}/tasks.db",
        folder / "service.log",
        "--simulated-work",
        "0",
        *flags,
    )
    process.start()
    stored: list[dict] = []
    try:
        yield process
    finally:
        survived = process.process.poll() is None
        try:
            if survived and only_good_stored:
                stored = list_tasks(process.base_url, limit=1000)["tasks"]
        except (OSError, http.client.HTTPException):
            survived = False  # it went away just now
        finally:
            process.stop()
            process.wait(10)  # the log reader has copied everything once this returns
    log = process.log()
    assert survived, f"the service died during the module's tests:\n{log[-5000:]}"
    assert "unhandled error" not in log and "Traceback" not in log, log[-5000:]
    bad = [task["action"] for task in stored if not task["action"].startswith(GOOD_ACTION_PREFIX)]
    assert not bad, f"bad input was stored: {bad}"


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> Iterator[ServiceProcess]:
    """A real service on SQLite with a 1 KiB body limit; every task its module's tests
    mean to store has an action starting with ``good-``."""
    folder = tmp_path_factory.mktemp("service")
    yield from serve_module(folder, "--max-body", str(SMALL_MAX_BODY_BYTES), only_good_stored=True)
