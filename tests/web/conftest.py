"""The one service the HTTP-level input tests of a module share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import ServiceProcess

SMALL_MAX_BODY_BYTES = 1024  # small enough that oversized bodies are cheap to send


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> Iterator[ServiceProcess]:
    """A real service on SQLite with a 1 KiB body limit and no simulated work."""
    folder = tmp_path_factory.mktemp("service")
    process = ServiceProcess(
        f"sqlite:///{folder}/tasks.db",
        folder / "service.log",
        "--max-body",
        str(SMALL_MAX_BODY_BYTES),
        "--simulated-work",
        "0",
    )
    process.start()
    yield process
    process.stop()
