"""The procrastinate side: ``procrastinate --app bench.stacks.procrastinate_tasks.app worker``.

Configured by environment variables, because the worker imports this module
by name: ``BENCH_PG_DSN`` (the stack's scratch PostgreSQL database) and
``BENCH_SIMULATED_WORK``.

Procrastinate keeps each job as a row of ``procrastinate_jobs``; the worker
fetches one job per statement (``FOR UPDATE SKIP LOCKED``), runs it, and
commits its final status (``succeeded``) in a statement of its own, so that
row plays the part of our ``completed`` row and no results table is added.
It stores no result value. The task is a coroutine, procrastinate's own
form: its worker runs coroutines on its event loop, while a plain function
would go through a thread for every job.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import procrastinate

from bench import pg

DSN = os.environ.get("BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/bench_unset")
SIMULATED_WORK_SECONDS = float(os.environ.get("BENCH_SIMULATED_WORK", "0"))
POOL_MIN_SIZE = 2
POOL_MAX_SIZE = 16  # one per request thread of the front end

app = procrastinate.App(
    connector=procrastinate.PsycopgConnector(
        conninfo=DSN, min_size=POOL_MIN_SIZE, max_size=POOL_MAX_SIZE
    )
)


@app.task(name="bench.process")
async def process(action: str, data: dict[str, Any]) -> None:
    """What our built-in fallback action does: sleep the simulated work (returns nothing,
    since procrastinate stores no result)."""
    if SIMULATED_WORK_SECONDS > 0:
        await asyncio.sleep(SIMULATED_WORK_SECONDS)


def apply_schema() -> None:
    """Procrastinate's tables and functions, into the empty scratch database."""
    with app.open():
        app.schema_manager.apply_schema()


def analyze() -> None:
    """Statistics for the planner after a seeded backlog, as ours gets (autovacuum would)."""
    conn = pg.connect(DSN)
    try:
        with conn.cursor() as cur:
            cur.execute("VACUUM (ANALYZE) procrastinate_jobs")
    finally:
        conn.close()


def submit(task_id: str, action: str, data: dict[str, Any]) -> str:
    """Defer one job; its id (procrastinate's bigint) is the task's id."""
    return str(process.defer(action=action, data=data))


def submit_many(items: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Procrastinate's batch enqueue: one statement for the whole array."""
    job_ids = process.batch_defer(*({"action": a, "data": d} for a, d in items))
    return [str(job_id) for job_id in job_ids]


_LIST_SQL = (
    "SELECT id::text, task_name, status::text, args::text, "
    "extract(epoch from coalesce(scheduled_at, now()))::float8 "
    "FROM procrastinate_jobs {where} ORDER BY procrastinate_jobs.id DESC LIMIT %s"
)
STATUS_NAMES = {"queued": "todo", "running": "doing", "completed": "succeeded", "dead": "failed"}


def list_results(status: str | None, limit: int) -> list[dict[str, Any]]:
    """Newest first, like GET /tasks of our service (not measured; it answers the probes)."""
    with app.connector.get_sync_connector().pool.connection() as conn:
        if status is None:
            rows = conn.execute(_LIST_SQL.format(where=""), (limit,)).fetchall()
        else:
            rows = conn.execute(
                _LIST_SQL.format(where="WHERE status = %s"),
                (STATUS_NAMES.get(status, status), limit),
            ).fetchall()
    return [
        {"id": r[0], "action": r[1], "status": r[2], "args": r[3], "processed_at": r[4]}
        for r in rows
    ]
