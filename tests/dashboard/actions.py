"""Actions for the dashboard tests, loaded with ``--actions tests.dashboard.actions``."""

from __future__ import annotations

from typing import Any

from actors import Permanent, action

BUSY_SECONDS = 60.0
BUSY_PROGRESS = (0.4, "step 2 of 5")


@action("dies_first_time")
def dies_first_time(data: dict[str, Any], context) -> dict[str, Any]:
    """Dead after its first attempt; completes when retried by hand."""
    if context.attempt == 1:
        raise Permanent("the first attempt never works")
    return {"output": f"worked on attempt {context.attempt}"}


@action("refuses")
def refuses(data: dict[str, Any]) -> dict[str, Any]:
    raise Permanent("this input can never work")


@action("fails")
def fails(data: dict[str, Any]) -> dict[str, Any]:
    raise ValueError(f"failing on purpose {data.get('n', '')}")


@action("busy")
def busy(data: dict[str, Any], context) -> dict[str, Any]:
    """Report progress, then run until canceled (or ``seconds`` pass)."""
    context.progress(*BUSY_PROGRESS)
    if context.cancelled.wait(data.get("seconds", BUSY_SECONDS)):
        raise RuntimeError("stopped early: canceled")
    return {"output": "not canceled"}
