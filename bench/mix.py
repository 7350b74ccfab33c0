"""Commit latency under a mix of fast and slow tasks (ours only).

Our service runs with ``--actions bench.mix_actions``: ``bench_fast``
returns at once, ``bench_slow`` after 50 ms, and each result carries
``time.time()`` at the moment the action returned. One sender POSTs them at
a fixed rate (a fixed random half of them slow, so that both workers get
both kinds whatever order the dispatcher hands them out in). A watcher polls
the database every millisecond for newly completed rows and notes when each
first appeared; the commit latency of a task is (seen − returned).

"One commit" is measured first on the same storage: the median of
``ONE_COMMIT_SAMPLES`` single-row durable commits by a plain connection
(SQLite: a file beside the service's, WAL and ``synchronous=FULL``;
PostgreSQL: a table in the service's database, dropped afterwards). The
target is ``TARGET_MS`` plus that.
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import time
from typing import TYPE_CHECKING

import orjson

from bench import pg
from bench.observe import IdWatcher
from bench.stacks import OursStack
from bench.stats import percentile

ACTIONS_MODULE = "bench.mix_actions"
SLOW_SHARE = 0.5
MIX_SEED = 14  # the same mix every run
MIX_LENGTH = 200  # bodies the sender cycles through
ONE_COMMIT_SAMPLES = 50
TARGET_MS = 10.0  # plus one commit
if TYPE_CHECKING:
    from bench.scenarios import Context

IDS_SQL = "SELECT id, result FROM tasks WHERE status = 'completed' AND id IN ({marks})"


def one_commit_ms(stack: OursStack) -> float:
    """Median time of a single-row durable commit on the stack's storage."""
    times = []
    if stack.db_url:
        conn = pg.connect(stack.db_url)
        try:
            with conn.cursor() as cur:
                cur.execute("CREATE TABLE bench_commit_probe (n integer)")
                for n in range(ONE_COMMIT_SAMPLES):
                    started = time.perf_counter()
                    cur.execute("INSERT INTO bench_commit_probe VALUES (%s)", (n,))
                    times.append(time.perf_counter() - started)
                cur.execute("DROP TABLE bench_commit_probe")
        finally:
            conn.close()
    else:
        conn = sqlite3.connect(stack.workdir / "commit-probe.db", isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=wal")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("CREATE TABLE probe (n integer)")
            for n in range(ONE_COMMIT_SAMPLES):
                started = time.perf_counter()
                conn.execute("INSERT INTO probe VALUES (?)", (n,))
                times.append(time.perf_counter() - started)
        finally:
            conn.close()
    return statistics.median(times) * 1000


def _bodies() -> list[bytes]:
    rng = random.Random(MIX_SEED)
    return [
        orjson.dumps(
            {"action": "bench_slow" if rng.random() < SLOW_SHARE else "bench_fast", "data": {}}
        )
        for _ in range(MIX_LENGTH)
    ]


def run(ctx: Context) -> dict[str, float]:
    from bench.scenarios import open_loop

    sizes = ctx.sizes
    stack = ctx.stack(OursStack, "mix")
    commit_ms = one_commit_ms(stack) if stack.db_url else float("nan")
    bodies = _bodies()
    try:
        stack.start(None, actions=(ACTIONS_MODULE,))
        if not stack.db_url:
            commit_ms = one_commit_ms(stack)
        watcher = IdWatcher(stack.completion_db, IDS_SQL)
        # Wall clock of a monotonic instant: the actions report time.time().
        offset = time.time() - time.monotonic()
        try:
            sent = open_loop(stack, watcher, bodies, sizes.mix_rate, sizes.mix_seconds)
        finally:
            watcher.close()
    finally:
        stack.stop()
    all_ms, fast_ms = [], []
    for task_id, (result,) in watcher.rows.items():
        outcome = orjson.loads(result)
        latency = (watcher.seen_at[task_id] + offset - outcome["returned_at"]) * 1000
        all_ms.append(latency)
        if outcome["kind"] == "fast":
            fast_ms.append(latency)
    all_ms.sort()
    fast_ms.sort()
    return {
        "mix_commit_p50_ms": percentile(all_ms, 50),
        "mix_commit_p99_ms": percentile(all_ms, 99),
        "mix_commit_max_ms": all_ms[-1] if all_ms else float("nan"),
        "mix_fast_commit_p99_ms": percentile(fast_ms, 99),
        "mix_one_commit_ms": commit_ms,
        "mix_completed": len(all_ms),
        "mix_lost": sent["count"] - len(all_ms),
        "mix_errors": sent["errors"],
    }
