"""The Celery side: ``celery -A bench.stacks.celery_tasks worker -c 2``.

Configured by environment variables, because the worker imports this module
by name: ``BENCH_WORKDIR`` (where results.db lives), ``BENCH_RESULTS_URL``
(instead, the stack's PostgreSQL database, in the PostgreSQL scenarios),
``BENCH_REDIS_URL`` (the private redis-server the benchmark started) and
``BENCH_SIMULATED_WORK``.

``task_acks_late=True``: a message is acknowledged after the task ran, so a
killed worker's task is redelivered. Celery's own result backend is off;
the task writes its result to SQLite like the Huey task does.
"""

from __future__ import annotations

import os
import time
from typing import Any

from celery import Celery
from celery.signals import worker_ready

from bench.stacks import results

WORKDIR = os.environ.get("BENCH_WORKDIR", ".")
SIMULATED_WORK_SECONDS = float(os.environ.get("BENCH_SIMULATED_WORK", "0"))
RESULTS_DB = os.environ.get("BENCH_RESULTS_URL") or os.path.join(WORKDIR, "results.db")

app = Celery("bench", broker=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:1/0"))
app.conf.update(
    task_acks_late=True,
    task_ignore_result=True,
    task_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
)


READY_LINE = "BENCH celery worker ready"


@worker_ready.connect
def _announce_ready(**kwargs: Any) -> None:
    """The benchmark waits for this line; Celery's own "ready." is logged only at INFO."""
    print(READY_LINE, flush=True)


@app.task(name="bench.process")
def process(task_id: str, action: str, data: dict[str, Any]) -> None:
    """What our built-in fallback action does: sleep the simulated work, answer "processed"."""
    if SIMULATED_WORK_SECONDS > 0:
        time.sleep(SIMULATED_WORK_SECONDS)
    results.record(RESULTS_DB, task_id, action, {"output": "processed"})


def submit(task_id: str, action: str, data: dict[str, Any]) -> None:
    process.apply_async(args=(task_id, action, data), task_id=task_id)
