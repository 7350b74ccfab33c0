"""The Huey side: ``huey_consumer bench.stacks.huey_tasks.huey -w 2``.

Configured by environment variables, because the consumer imports this
module by name: ``BENCH_WORKDIR`` (where huey.db and results.db live),
``BENCH_SIMULATED_WORK`` (seconds each task sleeps, like our
``--simulated-work``) and ``BENCH_HUEY_FSYNC`` (``0`` only while seeding a
backlog, which is not measured).

Huey's SQLite storage is left at its defaults: WAL, and SQLite's default
``synchronous=FULL``, so an enqueue is on disk when it returns, as ours is.
"""

from __future__ import annotations

import os
import time
from typing import Any

from huey import SqliteHuey

from bench.stacks import results

WORKDIR = os.environ.get("BENCH_WORKDIR", ".")
SIMULATED_WORK_SECONDS = float(os.environ.get("BENCH_SIMULATED_WORK", "0"))
RESULTS_DB = os.path.join(WORKDIR, "results.db")

huey = SqliteHuey(
    "bench",
    filename=os.path.join(WORKDIR, "huey.db"),
    fsync=None if os.environ.get("BENCH_HUEY_FSYNC", "1") == "1" else False,
)


@huey.task()
def process(task_id: str, action: str, data: dict[str, Any]) -> None:
    """What our built-in fallback action does: sleep the simulated work, answer "processed"."""
    if SIMULATED_WORK_SECONDS > 0:
        time.sleep(SIMULATED_WORK_SECONDS)
    results.record(RESULTS_DB, task_id, action, {"output": "processed"})
    # Returns None, so Huey stores no result of its own.


def submit(task_id: str, action: str, data: dict[str, Any]) -> None:
    process(task_id, action, data)
