"""The storage's own limit: the same work as a scenario, by a minimal script.

No HTTP, no actors, no ORM: ``sqlite3`` or ``psycopg2`` on the service's own
schema (made by ``run.py migrate``), with the service's durability (SQLite:
WAL and ``synchronous=FULL``; PostgreSQL: the server's defaults), writing the
same columns and values as the service does.

- enqueue: one connection inserting ``ENQUEUE_BATCH`` rows per transaction,
  back to back. 16 clients each waiting for their 202 can put at most 16
  tasks into one group commit, so this is the most the service's intake could
  get out of the storage with 16 clients.
- bulk: one connection inserting ``BULK_BATCH`` rows per transaction (one
  bulk request's worth).
- drain: a loop that claims ``CLAIM_BATCH`` due rows with one UPDATE …
  RETURNING (on PostgreSQL through ``FOR UPDATE SKIP LOCKED``), marks them
  completed with their result, and commits: one commit per batch. With two
  nodes, two such processes run at once on the one database.

Each script runs in its own process (``python -m bench.physical MODE …``) and
prints one JSON line: tasks, seconds, and the CPU time of itself and (on
PostgreSQL) of its server backend over the timed loop.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    from bench.scenarios import Context

ENQUEUE_BATCH = 16  # rows per commit: the most 16 waiting clients can share
BULK_BATCH = 1000  # rows per commit: one bulk request
CLAIM_BATCH = 10  # rows per claim: our 2 workers × prefetch 5
SQLITE_BUSY_TIMEOUT_SECONDS = 5.0
COLUMNS = ("id", "payload", "status", "created_at", "action", "attempts", "enqueued_ns", "run_at")
RESULT_JSON = orjson.dumps({"output": "processed"}).decode()
SCRIPT_TIMEOUT_MARGIN_SECONDS = 120.0
START_LEAD_SECONDS = 0.5  # time for the interpreters to start and connect


class _Db:
    def __init__(self, url: str) -> None:
        self.postgresql = url.startswith("postgres")
        self.backend = None
        if self.postgresql:
            import psutil
            import psycopg2

            self.conn = psycopg2.connect(url)
            self.mark = "%s"
            with self.conn.cursor() as cur:
                cur.execute("SELECT pg_backend_pid()")
                self.backend = psutil.Process(cur.fetchone()[0])
            self.conn.commit()
        else:
            self.conn = sqlite3.connect(
                url[len("sqlite:///") :], isolation_level=None, timeout=SQLITE_BUSY_TIMEOUT_SECONDS
            )
            self.conn.execute("PRAGMA journal_mode=wal")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.mark = "?"

    def begin(self):
        if self.postgresql:
            return self.conn.cursor()
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn.cursor()

    def commit(self) -> None:
        if self.postgresql:
            self.conn.commit()
        else:
            self.conn.execute("COMMIT")

    def cpu(self) -> tuple[float, float, float, float]:
        mine = os.times()
        db = self.backend.cpu_times() if self.backend is not None else None
        return mine.user, mine.system, db.user if db else 0.0, db.system if db else 0.0


def _row(n: int) -> list:
    now_ns = time.time_ns()
    task_id = str(uuid.uuid4())
    created_at = now_ns // 1_000_000_000
    payload = orjson.dumps(
        {"id": task_id, "action": "echo", "data": {"n": n}, "created_at": created_at}
    ).decode()
    return [task_id, payload, "queued", created_at, "echo", 0, now_ns, now_ns / 1e9]


def insert_loop(db: _Db, batch: int, seconds: float) -> int:
    marks = "(" + ", ".join([db.mark] * len(COLUMNS)) + ")"
    sql = f"INSERT INTO tasks ({', '.join(COLUMNS)}) VALUES " + ", ".join([marks] * batch)
    deadline = time.monotonic() + seconds
    done = 0
    while time.monotonic() < deadline:
        cur = db.begin()
        cur.execute(sql, [value for n in range(done, done + batch) for value in _row(n)])
        db.commit()
        done += batch
    return done


def _claim_sql(db: _Db, indexed: bool) -> str:
    if db.postgresql:
        return (
            "WITH picked AS (SELECT id FROM tasks WHERE status IN ('queued', 'retrying') "
            "AND run_at <= %s ORDER BY run_at, enqueued_ns LIMIT %s FOR UPDATE SKIP LOCKED) "
            "UPDATE tasks SET status = 'running', attempts = attempts + 1 FROM picked "
            "WHERE tasks.id = picked.id RETURNING tasks.id"
        )
    source = "tasks INDEXED BY tasks_due" if indexed else "tasks"
    return (
        "UPDATE tasks SET status = 'running', attempts = attempts + 1 WHERE id IN "
        f"(SELECT id FROM {source} WHERE status IN ('queued', 'retrying') AND run_at <= ? "
        "ORDER BY run_at, enqueued_ns LIMIT ?) RETURNING id"
    )


def claim_loop(db: _Db, batch: int) -> int:
    """Claim and complete until nothing is due; returns the tasks completed."""
    indexed = True
    done = 0
    while True:
        cur = db.begin()
        try:
            cur.execute(_claim_sql(db, indexed), (time.time(), batch))
        except sqlite3.OperationalError as exc:  # a schema without the service's claim index
            if "no such index" not in str(exc):
                raise
            db.conn.execute("ROLLBACK")
            indexed = False
            continue
        ids = [row[0] for row in cur.fetchall()]
        if ids:
            marks = ", ".join([db.mark] * len(ids))
            cur.execute(
                f"UPDATE tasks SET status = 'completed', result = {db.mark}, "
                f"processed_at = {db.mark} WHERE id IN ({marks})",
                (RESULT_JSON, int(time.time()), *ids),
            )
        db.commit()
        if not ids:
            return done
        done += len(ids)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.physical")
    parser.add_argument("mode", choices=["enqueue", "bulk", "drain"])
    parser.add_argument("--db", required=True, help="URL of a migrated database")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--batch", type=int, default=0)
    parser.add_argument("--start-at", type=float, default=0.0, help="time.monotonic() to start")
    args = parser.parse_args()
    db = _Db(args.db)
    delay = args.start_at - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    cpu_before = db.cpu()
    started = time.monotonic()
    if args.mode == "drain":
        tasks = claim_loop(db, args.batch or CLAIM_BATCH)
    else:
        default = ENQUEUE_BATCH if args.mode == "enqueue" else BULK_BATCH
        tasks = insert_loop(db, args.batch or default, args.seconds)
    finished = time.monotonic()
    cpu = [after - before for after, before in zip(db.cpu(), cpu_before, strict=True)]
    print(
        json.dumps(
            {
                "tasks": tasks,
                "started": started,
                "finished": finished,
                "cpu_user": cpu[0],
                "cpu_sys": cpu[1],
                "db_user": cpu[2],
                "db_sys": cpu[3],
            }
        )
    )


def run(mode: str, url: str, seconds: float = 0.0, processes: int = 1) -> dict[str, float]:
    """Run ``processes`` scripts at once (they start together) and add up what they did."""
    from bench.procs import REPO, bench_env

    start_at = time.monotonic() + START_LEAD_SECONDS
    argv = [sys.executable, "-m", "bench.physical", mode, "--db", url]
    argv += ["--seconds", repr(seconds), "--start-at", repr(start_at)]
    children = [
        subprocess.Popen(argv, cwd=REPO, env=bench_env(), stdout=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    outputs = []
    for child in children:
        out, _ = child.communicate(timeout=seconds + SCRIPT_TIMEOUT_MARGIN_SECONDS)
        if child.returncode != 0:
            raise RuntimeError(f"bench.physical {mode} exited with {child.returncode}")
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    total = {key: sum(o[key] for o in outputs) for key in ("tasks", "cpu_user", "cpu_sys")}
    total["db_user"] = sum(o["db_user"] for o in outputs)
    total["db_sys"] = sum(o["db_sys"] for o in outputs)
    total["seconds"] = max(o["finished"] for o in outputs) - min(o["started"] for o in outputs)
    return total


def scenario(ctx: Context, scenario: str) -> dict[str, float]:
    """The ``physical`` stack's run of a scenario, on a database migrated by ``run.py migrate``."""
    from bench.scenarios import NODES
    from bench.stacks import OursStack

    sizes = ctx.sizes
    reference = OursStack(
        ctx.folder("physical", scenario), (), ctx.database("physical", scenario), 1
    )
    reference.migrate()
    url = reference.url
    if scenario in ("drain", "drain2"):
        reference.seed(sizes.drain_tasks, BENCH_DB_URL=url)
        done = run("drain", url, processes=NODES.get(scenario, 1))
        if done["tasks"] != sizes.drain_tasks:
            raise RuntimeError(f"physical drain completed {done['tasks']} of {sizes.drain_tasks}")
        rate_key = f"{scenario}_tps"
    else:
        seconds = sizes.enqueue_seconds if scenario == "enqueue" else sizes.bulk_seconds
        done = run(scenario, url, seconds)
        rate_key = "enqueue_rps" if scenario == "enqueue" else "bulk_tps"
    tasks = done["tasks"]
    metrics = {rate_key: tasks / done["seconds"]}
    metrics[f"{scenario}_cpu_user_us"] = done["cpu_user"] * 1e6 / tasks
    metrics[f"{scenario}_cpu_sys_us"] = done["cpu_sys"] * 1e6 / tasks
    if ctx.db == "postgresql":
        metrics[f"{scenario}_db_cpu_user_us"] = done["db_user"] * 1e6 / tasks
        metrics[f"{scenario}_db_cpu_sys_us"] = done["db_sys"] * 1e6 / tasks
    return metrics


if __name__ == "__main__":
    main()
