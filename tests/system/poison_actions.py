"""Poison actions for the issue-5 tests, loaded with ``--actions tests.system.poison_actions``.

Each one misbehaves in its own way on every attempt, so a test can watch a
task go from ``running`` through its retries to ``dead`` while other tasks
keep flowing. ``gate`` holds a worker busy until the test lets it go.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from actors import action


class WorkerPoison(BaseException):
    """Not an ``Exception``: what an action raises to take its worker actor down."""


class Unprintable(Exception):
    """An exception whose text cannot be produced: ``str()`` itself raises."""

    def __str__(self) -> str:
        raise RuntimeError("this exception cannot be printed")


@action("always_fails")
def always_fails(data: dict[str, Any]) -> dict[str, Any]:
    """Raise an ordinary exception whose message quotes the task's ``data.text``
    (as a real action's message often quotes its input)."""
    raise ValueError(f"poisoned input {data.get('text', '')}")


@action("kills_worker")
def kills_worker(data: dict[str, Any]) -> dict[str, Any]:
    raise WorkerPoison(f"poison pill {data.get('n', '')}")


@action("exits")
def exits(data: dict[str, Any]) -> dict[str, Any]:
    """``sys.exit`` from inside an action: a ``SystemExit`` reaches the worker."""
    raise SystemExit(3)


@action("unprintable_error")
def unprintable_error(data: dict[str, Any]) -> dict[str, Any]:
    raise Unprintable()


@action("gate")
def gate(data: dict[str, Any]) -> dict[str, Any]:
    """Create ``data.started`` (a file), then block until the test opens the FIFO
    ``data.fifo`` for writing and closes it.

    Opening a FIFO for reading blocks until a writer opens it, and reading
    returns at end of file once the writer closes it: the test releases the
    worker with an event, not a timer.
    """
    Path(data["started"]).touch()
    fd = os.open(data["fifo"], os.O_RDONLY)
    try:
        while os.read(fd, 4096):
            pass
    finally:
        os.close(fd)
    return {"output": "released"}
