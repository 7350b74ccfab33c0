"""A user's action module, loaded with ``python run.py --actions tests.system.sample_actions``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from actors import action


@action("reverse")
def reverse(data: dict[str, Any]) -> dict[str, Any]:
    return {"output": str(data.get("text", ""))[::-1]}


@action("block_first_attempt")
def block_first_attempt(data: dict[str, Any]) -> dict[str, Any]:
    """The first attempt creates ``data["marker"]`` and then works for ``data["seconds"]``;
    any later attempt (the marker exists) returns at once.

    A test waits for the marker to know the attempt is under way, stops the
    service in the middle of it, and after a restart sees the task run again
    without waiting out the long attempt a second time.
    """
    marker = Path(data["marker"])
    if marker.exists():
        return {"output": "later attempt"}
    marker.touch()
    time.sleep(data["seconds"])  # the long work itself, not a wait for the system
    return {"output": "first attempt"}
