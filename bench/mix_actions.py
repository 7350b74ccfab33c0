"""Bench actions for the commit-latency mix: ``run.py --actions bench.mix_actions``.

Each returns ``{"returned_at": time.time()}``, the moment the action
returned, so that a watcher outside the service can tell how long the
outcome took to be committed after it.
"""

from __future__ import annotations

import time
from typing import Any

from actors import action

SLOW_SECONDS = 0.05


@action("bench_fast")
def fast(data: dict[str, Any]) -> dict[str, float]:
    return {"returned_at": time.time(), "kind": "fast"}


@action("bench_slow")
def slow(data: dict[str, Any]) -> dict[str, float]:
    time.sleep(SLOW_SECONDS)  # the task's work itself
    return {"returned_at": time.time(), "kind": "slow"}
