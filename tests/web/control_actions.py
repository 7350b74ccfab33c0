"""Actions for the control tests, loaded with ``--actions tests.web.control_actions``."""

from __future__ import annotations

import time
from typing import Any

from actors import Permanent, action

WAIT_SECONDS = 30.0


@action("until_canceled")
def until_canceled(data: dict[str, Any], context) -> dict[str, Any]:
    """Run until the task is canceled (or times out), then stop early by raising."""
    if context.cancelled.wait(data.get("seconds", WAIT_SECONDS)):
        raise RuntimeError("stopped early: canceled")
    return {"output": "not canceled"}


@action("fails")
def fails(data: dict[str, Any]) -> dict[str, Any]:
    raise ValueError(f"failing on purpose {data.get('n', '')}")


@action("refuses")
def refuses(data: dict[str, Any]) -> dict[str, Any]:
    raise Permanent("this input can never work")


@action("ignores_everything")
def ignores_everything(data: dict[str, Any]) -> dict[str, Any]:
    """Work for ``data.seconds`` without ever looking at its context: the timeout can
    only abandon it."""
    time.sleep(data.get("seconds", WAIT_SECONDS))  # the simulated work itself
    return {"output": "late"}
