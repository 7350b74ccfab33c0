"""BENCHMARKS.md: the table, the machine, and how every number is measured."""

from __future__ import annotations

import argparse
import os

from bench import report
from bench.scenarios import Sizes

MACHINE_LABELS = {
    "date": "Date",
    "commit": "Commit",
    "cpu": "CPU model",
    "cores": "Cores",
    "ram": "RAM",
    "os": "OS",
    "python": "Python",
    "sqlite": "SQLite",
    "postgresql": "PostgreSQL",
    "redis": "redis-server",
    "wrk": "wrk",
    "filesystem": "Databases on",
    "packages": "Packages",
    "load": "Load average",
}


RUNNING = """\
## Running it

```
pip install -e '.[bench]' && apt-get install -y wrk redis-server postgresql
python -m bench --db all --snapshot --repeat 2 --wait-quiet 20   # writes BENCHMARKS.md
python -m bench                 # SQLite only, full size (about 7 minutes)
python -m bench --quick         # SQLite only, scaled down, about a minute
python -m bench --db postgresql --quick   # PostgreSQL only, scaled down
python -m bench --db postgresql --only drain,drain2 --stacks ours,procrastinate
python -m bench --only enqueue --repeat 3             # medians of 3 rounds
python -m bench --quick --baseline bench/results/latest.json   # ratios against a saved run
python -m bench --scale 1m --db all   # large-table run, writes bench/large/SCALE-1m.md
python -m bench --scale 10m --db all --wait-quiet 60  # the 10,000,000-row run
python -m bench --only enqueue,drain --stacks ours --profile bench/results/profile
python -m bench.hotspots bench/results/profile/drain.txt
```

`--db` picks the storages: `sqlite` (the default), `postgresql`, or `all`.
Each has its own scenarios and peers: on SQLite enqueue, bulk, drain, e2e,
scale, mix and slow against Huey and Celery; on PostgreSQL enqueue, bulk, drain
(one node), drain2 (two nodes), e2e2 (two nodes), scale and mix against
procrastinate and Celery. Both add the `physical` stack, the storage's own
limit. `--only` and `--stacks` narrow either set (a stack runs only where it
can: Huey on SQLite, procrastinate on PostgreSQL). PostgreSQL scenarios need
a server at `--pg-url` (default `postgresql://postgres@127.0.0.1:5432`, or
`BENCH_PG_URL`) where the benchmark may create and drop databases named
`bench_…`; each stack of each scenario gets a new one. Only a full run of
everything on both storages (`--db all`, no `--quick`, `--only`, `--stacks`)
writes this file; any other run writes `bench/results/BENCHMARKS-partial.md`.

`--snapshot` runs everything from a clean `git archive HEAD` copy, so that
edits to the working tree during the run cannot change the code measured
halfway. `--ours-arg=--threads=32` passes a flag to `run.py`; `--keep` keeps every
database (also the PostgreSQL ones) and log; `--wait-quiet 60` waits (up to 60 s)
before each run until no other program is using the CPU, for machines shared
with test runs. `--baseline FILE` prints, after the tables, every figure of
this run against the same figure in a saved results JSON, as "how many times
better now" (above 1× is better, whichever way the figure goes). Raw numbers
of the last full run: `bench/results/latest.json` (of the last partial one:
`latest-partial.json`). A full run takes about 7 minutes on SQLite and about
9 on PostgreSQL; `--repeat 2` doubles that.
"""


def _methods(s: Sizes) -> str:
    e2e_count = int(s.e2e_rate * s.e2e_seconds)
    return f"""\
## How each number is measured

Each scenario starts the stack afresh in its own folder (on PostgreSQL also
in a new scratch database of its own, dropped afterwards), measures, then
stops every process it started by PID. The scenarios run one stack at a time,
in the order of the table's columns, so no two stacks share the CPU; with `--repeat N` the
rounds go round the stacks in turn (so drift on the machine hits each alike)
and the table shows the medians of the rounds that no other program
disturbed (see `*_other_load_cores` below); a value marked `*` had no such
round, so it is the median of disturbed rounds and not to be trusted. The
load generator runs on the same 2 cores as the service under test, as the
targets assume.

**The stacks.**
- *ours* is started as users start it: `python run.py --port P --db
  sqlite:///DIR/tasks.db` plus only the flags a scenario names below. Defaults
  otherwise: 2 workers, prefetch 5, 16 HTTP threads, log level INFO (two log
  lines per task, written to a file). A 202 means the row is committed with
  `synchronous=FULL`. On PostgreSQL the same with `--db
  postgresql://postgres@127.0.0.1:5432/bench_…`; two nodes are two such
  processes on different ports, `--node-name a` and `b`, sharing the
  database (each with its 2 workers). The schema is made by `run.py migrate`
  before anything is seeded.
- *Huey* is `huey_consumer bench.stacks.huey_tasks.huey -w 2 -k thread -d 0.01
  -m 0.1` on `SqliteHuey` with its defaults (WAL, SQLite's default
  `synchronous=FULL`, so its 202 also means on disk). The polling delays are
  tuned down from Huey's 0.1 s → 10 s back-off, which would otherwise add
  seconds of latency to every idle moment. Huey deletes a task when it
  dequeues it, so a killed consumer loses the task it was running.
- *Celery* is `celery -A bench.stacks.celery_tasks worker -P prefork -c 2 -l
  WARNING --without-gossip --without-mingle --without-heartbeat` with
  `task_acks_late=True` and no result backend, on a redis-server (Debian's)
  that the benchmark starts on a free loopback port with Redis's default
  persistence (periodic RDB snapshots, no AOF): its 202 means the message is in
  Redis's memory, a weaker promise than ours. Two nodes are two such workers
  (`-n bench1@%h`, `bench2@%h`), each with its own front end, on one Redis.
- *procrastinate* (PostgreSQL only) is, per node, `python -m procrastinate
  --app bench.stacks.procrastinate_tasks.app worker --concurrency 2` (2 jobs
  at once, as our 2 workers) with LISTEN/NOTIFY on (its default) and its CLI's
  default logging (INFO: two lines per job, like ours). Its task is a
  coroutine (`async def`, procrastinate's own form; a plain function would
  cost a thread hop per job) that sleeps the simulated work. A 202 means the
  job row is committed in PostgreSQL, as ours. Procrastinate fetches one job
  per statement and commits each job's final status in a statement of its
  own; that `succeeded` row plays the part of our `completed` row (it stores
  no result value, so no results table is added). Bulk POSTs use its
  `batch_defer` (one statement per array).
- Huey, Celery and procrastinate sit behind `bench/stacks/web_app.py`: the same `POST /tasks`
  (one object or an array of up to 1,000, all checked before any is enqueued)
  and `GET /tasks` as ours, on CherryPy configured like ours (16 threads,
  socket queue 128). Their task sleeps the same simulated work as our built-in
  actions and then writes its result to a SQLite `results` table (WAL,
  `synchronous=FULL`, one commit per task), which plays the part of our
  `completed` rows; in the PostgreSQL scenarios Celery's tasks write that
  table in the stack's PostgreSQL database instead (autocommit, the server's
  `synchronous_commit`). Huey and Celery enqueue bulk POSTs item by item:
  neither has a batch enqueue.
- *physical* is the storage's own limit: see 7 below.

**1. Enqueue.** `wrk -t 2 -c {s.enqueue_clients} -d {s.enqueue_seconds:g}s` with
`bench/wrk.lua`, which POSTs `{{"action": "echo", "data": {{"text": "hello"}}}}` on
keep-alive connections and reports wrk's own latency percentiles (closed
loop: each connection sends its next request when the previous one is
answered). Requests/s counts only 2xx answers; errors (non-2xx, socket
errors, timeouts) are listed in the details. A {s.warmup_seconds:g} s wrk run
warms the service up first. Without wrk, {s.enqueue_clients} Python client processes
(one keep-alive connection each) do the same; they take more CPU from the
service, so their numbers are lower and not comparable. Workers run
alongside at the default simulated work of 0.1 s per task, as a user's
service would.

**2. Bulk enqueue.** {s.bulk_clients} client processes, each on one keep-alive
connection, POST the same array of {s.bulk_batch:,} tasks back to back for
{s.bulk_seconds:g} s. Tasks/s = accepted requests × {s.bulk_batch:,} / elapsed; the
p50/p99 in the details are per request. Every answer must be 202 with
`count` = {s.bulk_batch:,}.

**3. Drain.** With the stack's workers stopped, {s.drain_tasks:,} tasks are queued
(ours on SQLite: `store.enqueue(models.new_task(...))` rows into the
service's own database; ours on PostgreSQL: the same rows by `bench/fill.py`
in SQL, then `VACUUM ANALYZE` as autovacuum would do; Huey: the task
function called {s.drain_tasks:,} times; Celery: `apply_async` {s.drain_tasks:,}
times into Redis; procrastinate: `batch_defer`, then `VACUUM ANALYZE` too). A
connection of the benchmark's own (read-only SQLite, or autocommit
PostgreSQL) then polls the completion count every {1000 * 0.01:g} ms (ours:
`status = 'completed'` in `tasks`; Huey and Celery: rows in `results`;
procrastinate: `status = 'succeeded'` in `procrastinate_jobs`) and the stack
starts with no simulated work (ours: `--simulated-work 0`, default 2 workers
per node). `drain2` is the same with two nodes on one database.
Tasks/s = completions between the first poll that saw one and the first
poll that saw all of them, divided by the time between those polls; so
startup does not count and the polling error is at most 10 ms at each end.

**4. End to end.** One sender process POSTs single tasks on a fixed
schedule, {s.e2e_rate:g}/s for {s.e2e_seconds:g} s ({e2e_count:,} tasks), from 16
threads with keep-alive connections, so a slow answer delays no later POST.
Stacks run with no simulated work. Latency is from when a POST was *due* (so
a stalled server is not hidden by a stalled client) to when its completion
is first visible in the database: on SQLite a read-only connection checks
`PRAGMA data_version` every millisecond and, after each commit by anyone,
looks up the ids still in flight by primary key; on PostgreSQL an
autocommit connection looks them up every millisecond. `e2e2` (PostgreSQL)
runs two nodes and POSTs to each in turn. A completion seen by a query that
started at t was committed between the previous query and t, so the error
is about 1 ms. A completion cannot be seen before the sender has the 202
that names its id, so each latency is at least that POST's latency. Three
warm-up tasks run to completion first. Tasks not seen completed within
{30:g} s of the last POST count as lost. For ours, `*_step_*` (in "Every
number") split each latency by the task's own history (`task_events`) and
the millisecond in its UUIDv7 id: *accept* (POST due → id made: connection,
HTTP, handler), *claim* (→ claimed: the intake's commit, or a dispatcher's
claim), *start* (→ started: that commit, then the hand-over to a worker),
*run* (→ completed), *settle* (→ seen committed: the dispatcher's commit and
the watcher's look); *accept* and *claim* are good to about 1 ms.

**5. Scale (ours only).** The service's peak resident memory is the kernel's
high-water mark (`VmHWM` in `/proc/PID/status`) over the process's whole
life, read just before it is stopped:
- *empty table*: the service started on a new database, with one second of
  GET /tasks (skipped in `--quick`);
- *holding N queued*: {s.scale_rows:,} queued tasks inserted while the
  service was stopped (as in 3: `store.enqueue` on SQLite, `bench/fill.py`
  and `VACUUM ANALYZE` on PostgreSQL); the service is then
  started with `--simulated-work 3600 --shutdown-timeout 0`, so each worker
  holds its `prefetch` tasks asleep and the rest of the backlog stays
  queued (the workers cannot be set to 0), and GET latency is measured;
- *draining*: the same database, restarted with `--simulated-work 0` and
  left to drain for {s.scale_drain_seconds:g} s (skipped in `--quick`); the drain rate
  with that backlog is measured as in scenario 3, over that window.

GET latency is `wrk -t 1 -c 1` for {s.scale_get_seconds:g} s per URL (one request at a
time; default limit of 100 rows) while the {s.scale_rows:,} rows are in the table.
Huey and Celery keep no listable task table of their own (Huey's queue and
Redis hold pickled or JSON messages), so this scenario runs for ours only.

**6. Commit latency under a mix (ours only).** Our service runs with
`--actions bench.mix_actions`: `bench_fast` returns at once, `bench_slow`
after 50 ms, and each result carries `time.time()` at the moment the action
returned. One sender POSTs them at {s.mix_rate:g}/s for {s.mix_seconds:g} s (a
fixed random half slow, so both workers get both kinds), and the watcher of
4 notes when each completed row first appeared. The figure is (seen −
returned): how long an outcome waits for its commit after the action ended.
"One commit" is the median of 50 single-row durable commits by a plain
connection on the same storage, measured just before; the target is 10 ms
plus that.

**6b. Slow and idle clients (`slow`, ours only, SQLite).** Our service with
its defaults (16 HTTP threads). `bench/slow_clients.py` holds 200
connections open from eight loopback addresses (127.0.0.2–9): 100 that send
nothing, 100 that send `POST /tasks` and then one header line every 5 s,
each opened again as soon as the server closes it (at `--idle-timeout` or
`--request-timeout`), so 200 stay open throughout. Meanwhile one client
POSTs a task every 50 ms from 127.0.0.1, each on a new connection with a
5 s timeout, for {s.slow_seconds:g} s: the share answered 202 and their
latency. Before issue 12, 16 such connections stopped the service (0 of 6
POSTs answered in 30 s). The peers' fronts are stock CherryPy, which 16
slow clients stop the same way, so they are not run.

**7. Physical reference (`physical`).** The same work with no HTTP, no
actors and no ORM: a script (`bench/physical.py`) with `sqlite3` or
`psycopg2` on the service's own schema (`run.py migrate`) and durability
(SQLite WAL and `synchronous=FULL`; PostgreSQL's defaults), writing the same
columns and values. Enqueue: one connection inserting 16 rows per
transaction back to back (16 clients waiting for their 202 can share at most
one commit of 16 rows); bulk: 1,000 rows per transaction; drain: a loop that
claims 10 due rows (our 2 workers × prefetch 5) with one `UPDATE …
RETURNING` (on PostgreSQL through `FOR UPDATE SKIP LOCKED`), marks them
completed with their result and commits, one commit per batch (our service
also commits each claim before running it, so on a commit-bound storage it
can reach about half of this); `drain2` runs two such processes at once.
"ours vs physical" is then the share of the storage's own limit that ours
reaches.

**8. Cost per task.** For enqueue, bulk and drain, the CPU time (user and
system apart, `psutil` `cpu_times` deltas) spent per task over the measured
window: by every process of the stack (ours: the `run.py` process(es);
peers: front end, workers with their children, redis-server; physical: the
script), and on PostgreSQL by the server's backends serving the stack's own
database, found by their process titles (which name the database) among
the postmaster's children and read at both ends of the window. So the
cluster-wide WAL writer, checkpointer and background writer are not counted
(they work for every database), nor is a backend that ended within the
window (the stacks keep theirs open). The window is the wrk or client run
for enqueue and bulk, and from the first to the last completion seen for
drain; per task = CPU ÷ tasks accepted (enqueue, bulk) or completed (drain).

**Ratios.** "ours vs X" is how many times better ours is: X's number ÷ ours
for latencies and memory, ours ÷ X's for throughput. Above 1× means ours
wins. "met" checks ours against the targets of issues 4 and 14, which are
set for the full run on a 2-core machine ("not measured": a part of the
target, such as the SQLite figure for PostgreSQL's enqueue, was not in this
run); `--quick` numbers are not comparable with them.

**Large tables (`--scale ROWS`, not part of this run; the last `1m` and
`10m` runs' reports are copied into their own sections below).** `python -m
bench --scale 10m --db all` fills the table of our service with ROWS tasks
by SQL (`bench/fill.py`: `generate_series` on PostgreSQL, a recursive CTE on
SQLite; all completed but the newest 100,000 queued), then measures GET
/tasks p99 for every listing (no filter, each status, the queue, the
action, a creation window, the three combined, the largest `?limit`),
`/metrics`, peak
RSS, the size on disk per task, and the drain rate against the same backlog
on an empty table (target: within 20 %). It writes
`bench/large/SCALE-ROWS.md` (kept in git). On this machine filling 1,000,000 rows took
6 to 10 s on SQLite and 11 to 18 s on PostgreSQL (with `VACUUM ANALYZE`),
and a whole `--scale 1m --db all` run 150 to 220 s; `--scale 10m --db all`
took 390 to 405 s (of which the fills 72 s and 116 s).
"""


# The --scale runs whose reports BENCHMARKS.md includes, each under its heading
LARGE_RUNS = {"1m": "One million rows, every filter", "10m": "Ten million rows"}


def _command(args: argparse.Namespace) -> str:
    parts = ["python -m bench"]
    if args.db != "sqlite":
        parts.append(f"--db {args.db}")
    if args.quick:
        parts.append("--quick")
    if args.only:
        parts.append(f"--only {args.only}")
    if args.stacks:
        parts.append(f"--stacks {args.stacks}")
    if args.repeat > 1:
        parts.append(f"--repeat {args.repeat}")
    if args.wait_quiet:
        parts.append(f"--wait-quiet {args.wait_quiet:g}")
    if os.environ.get("BENCH_SNAPSHOT"):
        parts.append("--snapshot")
    parts += [f"--ours-arg={arg}" for arg in args.ours_arg]
    return " ".join(parts)


def _results(tables: dict[str, tuple[list[list[str]], list[list[str]]]]) -> str:
    sections = []
    for db, (rows, cost) in tables.items():
        text = f"### {report.DB_LABELS[db]}\n\n{report.markdown(rows)}\n"
        if cost:
            text += (
                f"\nCPU time per task on {report.DB_LABELS[db]}, in µs, user + system "
                '(see "Cost per task" below):\n\n' + report.markdown(cost) + "\n"
            )
        sections.append(text)
    return "\n".join(sections)


def _details(runs: dict) -> str:
    return "\n".join(
        f"### {report.DB_LABELS[db]}\n\n{report.details(runs, db)}\n"
        for db in runs
        if report.details(runs, db)
    )


def render(
    tables: dict[str, tuple[list[list[str]], list[list[str]]]],
    runs: dict,
    info: dict[str, str],
    sizes: Sizes,
    args: argparse.Namespace,
    failures: list[str],
    elapsed: float,
    large_runs: dict[str, str] | None = None,
) -> str:
    """``large_runs``: the reports of the last ``--scale`` runs of ``LARGE_RUNS``
    (bench/results) that exist, by label, each shown in its own section (those runs
    are too long to be part of this one)."""
    machine = "\n".join(
        f"| {MACHINE_LABELS.get(key, key)} | {value} |" for key, value in info.items()
    )
    failed = ""
    if failures:
        failed = "\n## Failures\n\n" + "\n".join(f"- {failure}" for failure in failures) + "\n"
    large = ""
    for label, text in (large_runs or {}).items():
        body = text.split("\n", 1)[1] if text.startswith("# ") else text
        heading = LARGE_RUNS[label]
        large += f"\n## {heading}\n\nThe last `--scale {label}` run, as it wrote it:\n{body}"
    return f"""\
# Benchmarks

This service against its peers, measured in one run on one machine (issues 4
and 14): Huey and Celery on SQLite; procrastinate and Celery on PostgreSQL;
and on each, the storage's own limit. Written by `{_command(args)}` in
{elapsed:.0f} s; do not edit by hand.

{RUNNING}
## Results

{_results(tables)}
Ratios: above 1× means ours is better, for throughput and latency alike.
`*`: every round of that value ran while other programs kept the CPU busy
(see "Every number"), so it is not to be trusted.
{failed}{large}
## Machine

| | |
|---|---|
{machine}

{_methods(sizes)}
## Every number

Every value each stack produced, one per round when run with `--repeat N`
(separated by " / "); the tables above show the medians (of the
undisturbed rounds, where there are any). `*_errors` are
non-2xx answers and socket errors; `*_lost` are tasks not seen completed;
`*_send_lag_p99_ms` is how late the sender was against its schedule (it
should stay near 0, or the load generator was the bottleneck).
`*_other_load_cores` is how many cores *other* programs on the machine kept
busy during that scenario (the CPU time of every user process that is not
the benchmark or one it started, children included, nor the PostgreSQL
server working for the benchmark's databases); above about 0.1 the
numbers of that run are disturbed. It is approximate: a process's children
count when it reaps them, so a test runner that reaps a long-lived child
shows up as a burst.

{_details(runs)}"""
