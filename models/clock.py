"""This node's clock: the wall time every ``now`` of the service comes from.

One function, so that a test can give a node a clock that is wrong, as a
real machine's can be: ``TASKQUEUE_TEST_CLOCK_OFFSET_SECONDS`` (a test
hook, not a setting) moves it. On PostgreSQL every comparison that decides
who holds a lease or whether a task is due uses the database's clock
instead, so a node whose clock is off takes over nothing that is alive;
this clock then only stamps what the node itself reports (times shown in
events and listings). On SQLite every process shares one machine's clock.
"""

from __future__ import annotations

import os
import time

OFFSET_VARIABLE = "TASKQUEUE_TEST_CLOCK_OFFSET_SECONDS"
OFFSET_SECONDS = float(os.environ.get(OFFSET_VARIABLE, "0") or 0)


def now() -> float:
    """Unix seconds, as this node sees them."""
    return time.time() + OFFSET_SECONDS


def now_ns() -> int:
    return time.time_ns() + int(OFFSET_SECONDS * 1e9)
