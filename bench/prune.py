"""Retention under load (ours only; not part of the default or quick run: ``--only prune``).

Two databases are filled alike by ``bench.fill``: ``scale_rows`` completed tasks
(1,000,000 in the full sizes), each with two events (``claimed`` and
``completed``), all finished over a minute ago, and a backlog of
``BACKLOG`` queued tasks. On each, the service starts with no simulated work:

- ``off``: ``--retain-completed 0``, nothing is pruned;
- ``on``: ``--retain-completed 30s``: every filled completed task has expired,
  and the leader's pruner deletes them (from its first round, ``PRUNE_START``
  seconds after the start) in short batches, with their events.

In the same window of each, POSTs at ``POST_RATE`` a second (open loop: the
latency counts from when each was due) measure the enqueue latency, and the
backlog's drain rate is read from the database. Then the ``on`` service runs
until every expired task is gone, which times the whole prune. The targets:
POST p99 at most 50 ms and a drain rate within 20 % of ``off``'s while pruning.
"""

from __future__ import annotations

import sqlite3
import time
from typing import TYPE_CHECKING

import orjson

from bench import clients, fill, pg
from bench.stacks import OursStack
from bench.stats import percentile

if TYPE_CHECKING:
    from bench.scenarios import Context

BACKLOG = 100_000
POST_RATE = 100.0  # POSTs a second during the window
WINDOW_SECONDS = 15.0
PRUNE_START_SECONDS = 10.5  # the pruner's first round: its interval after the start
RETAIN = "30s"
PRUNE_TIMEOUT_SECONDS = 900.0
POLL_SECONDS = 1.0
TASK_BODY = orjson.dumps({"action": "echo", "data": {"text": "hello"}})
# Counted on the due and running indexes, and on the index of finished tasks.
BACKLOG_LEFT_SQL = "SELECT count(*) FROM tasks WHERE status IN ('queued', 'retrying', 'running')"
EXPIRED_SQL = (
    "SELECT count(*) FROM tasks WHERE status IN ('completed', 'dead', 'canceled') "
    "AND status = 'completed' AND processed_at < {cutoff}"
)
EVENTS_SQL = (
    "INSERT INTO task_events (task_id, at, kind, detail) "
    "SELECT id, created_at, '{kind}', '{detail}' FROM tasks WHERE status = 'completed'"
)


def _query(stack: OursStack, sql: str) -> int:
    if stack.db_url:
        conn = pg.connect(stack.db_url)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                return int(cur.fetchone()[0])
        finally:
            conn.close()
    conn = sqlite3.connect(stack.workdir / "tasks.db", timeout=30)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


def _add_events(stack: OursStack) -> None:
    statements = [
        EVENTS_SQL.format(kind="claimed", detail='{"node": "a", "attempt": 1}'),
        EVENTS_SQL.format(kind="completed", detail='{"attempt": 1, "duration_seconds": 0.001}'),
    ]
    if stack.db_url:
        conn = pg.connect(stack.db_url)
        try:
            with conn.cursor() as cur:
                for sql in statements:
                    cur.execute(sql)
                cur.execute("VACUUM (ANALYZE) task_events")
        finally:
            conn.close()
        return
    conn = sqlite3.connect(stack.workdir / "tasks.db", isolation_level=None, timeout=30)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        for sql in statements:
            conn.execute(sql)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def _posts(base_url: str, seconds: float) -> tuple[list[float], int]:
    """POST at ``POST_RATE`` for ``seconds``: (latencies from due to answer, in ms; errors)."""
    latencies, errors = [], 0
    count = int(POST_RATE * seconds)
    with clients.OpenLoop([base_url], [TASK_BODY], POST_RATE, count) as sender:
        while (item := sender.accepted.get(timeout=clients.REQUEST_TIMEOUT_SECONDS)) is not None:
            _, due, _, answered, error = item
            if error is not None:
                errors += 1
            else:
                latencies.append((answered - due) * 1000)
    return sorted(latencies), errors


def _phase(ctx: Context, rows: int, retain: str) -> dict[str, float]:
    name = "off" if retain == "0" else "on"
    folder = ctx.folder("ours", f"prune-{name}")
    stack = OursStack(
        folder,
        (*ctx.ours_args, "--retain-completed", retain),
        ctx.database("ours", f"prune-{name}"),
        1,
    )
    stack.migrate()
    ctx.log(f"    {name}: filling {rows:,} completed tasks and {BACKLOG:,} queued")
    fill.fill(stack.url, rows, BACKLOG)
    _add_events(stack)
    cutoff = int(time.time()) - 31  # every filled completed task finished before this
    expired_sql = EXPIRED_SQL.format(cutoff=cutoff)
    metrics: dict[str, float] = {}
    try:
        started = time.monotonic()
        stack.start(0.0)
        time.sleep(max(0.0, started + PRUNE_START_SECONDS - time.monotonic()))
        expired_before = _query(stack, expired_sql)
        backlog_before = _query(stack, BACKLOG_LEFT_SQL)
        window_started = time.monotonic()
        latencies, errors = _posts(stack.base_url, WINDOW_SECONDS)
        window = time.monotonic() - window_started
        backlog_after = _query(stack, BACKLOG_LEFT_SQL)
        expired_after = _query(stack, expired_sql)
        posted = len(latencies)
        metrics[f"prune_{name}_post_p50_ms"] = percentile(latencies, 50)
        metrics[f"prune_{name}_post_p99_ms"] = percentile(latencies, 99)
        metrics[f"prune_{name}_post_errors"] = errors
        # Tasks drained: the backlog's fall, plus what was posted meanwhile and also ran
        metrics[f"prune_{name}_drain_tps"] = (backlog_before + posted - backlog_after) / window
        metrics[f"prune_{name}_pruned_in_window"] = expired_before - expired_after
        if name == "on":
            metrics["prune_on_rows_per_s_in_window"] = (expired_before - expired_after) / window
            deadline = time.monotonic() + PRUNE_TIMEOUT_SECONDS
            left = expired_after
            while left and time.monotonic() < deadline:
                time.sleep(POLL_SECONDS)
                left = _query(stack, expired_sql)
            if left:
                raise RuntimeError(f"prune: {left:,} expired tasks left after the timeout")
            metrics["prune_total_seconds"] = time.monotonic() - started - PRUNE_START_SECONDS
            events_left = _query(
                stack, f"SELECT count(*) FROM task_events WHERE at < {cutoff - 60}"
            )
            metrics["prune_events_left"] = events_left
    finally:
        stack.stop()
    return metrics


def run(ctx: Context) -> dict[str, float]:
    rows = ctx.sizes.scale_rows
    metrics = {"prune_rows": rows}
    metrics.update(_phase(ctx, rows, "0"))
    metrics.update(_phase(ctx, rows, RETAIN))
    if metrics.get("prune_off_drain_tps"):
        metrics["prune_drain_ratio"] = (
            metrics["prune_on_drain_tps"] / metrics["prune_off_drain_tps"]
        )
    return metrics
