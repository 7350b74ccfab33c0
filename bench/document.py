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


def _methods(s: Sizes) -> str:
    e2e_count = int(s.e2e_rate * s.e2e_seconds)
    return f"""\
## How each number is measured

Each scenario starts the stack afresh in its own folder, measures, then stops
every process it started by PID. The scenarios run one stack at a time, in the
order ours, Huey, Celery, so no two stacks share the CPU; with `--repeat N` the
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
  `synchronous=FULL`.
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
  Redis's memory, a weaker promise than ours.
- Huey and Celery sit behind `bench/stacks/web_app.py`: the same `POST /tasks`
  (one object or an array of up to 1,000, all checked before any is enqueued)
  and `GET /tasks` as ours, on CherryPy configured like ours (16 threads,
  socket queue 128). Their task sleeps the same simulated work as our built-in
  actions and then writes its result to a SQLite `results` table (WAL,
  `synchronous=FULL`, one commit per task), which plays the part of our
  `completed` rows. Bulk POSTs enqueue item by item: neither library has a
  batch enqueue.

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
(ours: `models.enqueue(models.new_task(...))` rows into the service's own
database; Huey: the task function called {s.drain_tasks:,} times; Celery:
`apply_async` {s.drain_tasks:,} times into Redis). A read-only SQLite
connection then polls the completion count every {1000 * 0.01:g} ms (ours:
`status = 'completed'` in `tasks`; the others: rows in `results`) and the stack
starts with no simulated work (ours: `--simulated-work 0`, default 2 workers).
Tasks/s = completions between the first poll that saw one and the first
poll that saw all of them, divided by the time between those polls; so
startup does not count and the polling error is at most 10 ms at each end.

**4. End to end.** One sender process POSTs single tasks on a fixed
schedule, {s.e2e_rate:g}/s for {s.e2e_seconds:g} s ({e2e_count:,} tasks), from 16
threads with keep-alive connections, so a slow answer delays no later POST.
Stacks run with no simulated work. Latency is from when a POST was *due* (so
a stalled server is not hidden by a stalled client) to when its completion
is first visible in the SQLite file: a read-only connection checks `PRAGMA
data_version` every millisecond and, after each commit by anyone, looks up
the ids still in flight by primary key. A completion seen by a query that
started at t was committed between the previous query and t, so the error
is about 1 ms. A completion cannot be seen before the sender has the 202
that names its id, so each latency is at least that POST's latency. Three
warm-up tasks run to completion first. Tasks not seen completed within
{30:g} s of the last POST count as lost.

**5. Scale (ours only).** The service's peak resident memory is the kernel's
high-water mark (`VmHWM` in `/proc/PID/status`) over the process's whole
life, read just before it is stopped:
- *empty table*: the service started on a new database, with one second of
  GET /tasks (skipped in `--quick`);
- *holding N queued*: {s.scale_rows:,} queued tasks inserted with
  `models.enqueue` while the service was stopped; the service is then
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

**Ratios.** "ours vs X" is how many times better ours is: X's number ÷ ours
for latencies and memory, ours ÷ X's for throughput. Above 1× means ours
wins. "met" checks ours against the targets of issue 4, which are set for
the full run on a 2-core machine; `--quick` numbers are not comparable with
them.
"""


def _command(args: argparse.Namespace) -> str:
    parts = ["python -m bench"]
    if args.quick:
        parts.append("--quick")
    if args.only and args.only != "enqueue,bulk,drain,e2e,scale":
        parts.append(f"--only {args.only}")
    if args.stacks and args.stacks != "ours,huey,celery":
        parts.append(f"--stacks {args.stacks}")
    if args.repeat > 1:
        parts.append(f"--repeat {args.repeat}")
    if args.wait_quiet:
        parts.append(f"--wait-quiet {args.wait_quiet:g}")
    if os.environ.get("BENCH_SNAPSHOT"):
        parts.append("--snapshot")
    parts += [f"--ours-arg={arg}" for arg in args.ours_arg]
    return " ".join(parts)


def render(
    rows: list[list[str]],
    runs: dict,
    info: dict[str, str],
    sizes: Sizes,
    args: argparse.Namespace,
    failures: list[str],
    elapsed: float,
) -> str:
    machine = "\n".join(
        f"| {MACHINE_LABELS.get(key, key)} | {value} |" for key, value in info.items()
    )
    failed = ""
    if failures:
        failed = "\n## Failures\n\n" + "\n".join(f"- {failure}" for failure in failures) + "\n"
    return f"""\
# Benchmarks

This service against Huey and Celery, measured in one run on one machine
(issue 4). Written by `{_command(args)}` in {elapsed:.0f} s; do not edit by hand.

## Running it

```
pip install -e '.[bench]' && apt-get install -y wrk redis-server
python -m bench                 # full run, writes BENCHMARKS.md (about 5 minutes)
python -m bench --snapshot --repeat 3   # medians of 3, on a clean copy of HEAD
python -m bench --quick         # scaled down, under a minute, writes bench/results/
python -m bench --only drain --stacks ours            # one scenario, one stack
python -m bench --only enqueue --repeat 3             # medians of 3 rounds
python -m bench --only enqueue,drain --stacks ours --profile bench/results/profile
python -m bench.hotspots bench/results/profile/drain.txt
```

`--snapshot` runs everything from a clean `git archive HEAD` copy, so that
edits to the working tree during the run cannot change the code measured
halfway. `--ours-arg=--threads=32` passes a flag to `run.py`; `--keep` keeps every
database and log; `--wait-quiet 60` waits (up to 60 s) before each run until
no other program is using the CPU, for machines shared with test runs.
Raw numbers of the last full run: `bench/results/latest.json` (of the last
partial one: `latest-partial.json`).

## Results

{report.markdown(rows)}

Ratios: above 1× means ours is better, for throughput and latency alike.
`*`: every round of that value ran while other programs kept the CPU busy
(see "Every number"), so it is not to be trusted.
{failed}
## Machine

| | |
|---|---|
{machine}

{_methods(sizes)}
## Every number

Every value each stack produced, one per round when run with `--repeat N`
(separated by " / "); the table above shows the medians (of the
undisturbed rounds, where there are any). `*_errors` are
non-2xx answers and socket errors; `e2e_lost` are tasks not seen completed;
`e2e_send_lag_p99_ms` is how late the sender was against its schedule (it
should stay near 0, or the load generator was the bottleneck).
`*_other_load_cores` is how many cores *other* programs on the machine kept
busy during that scenario (the CPU time of every user process that is not
the benchmark or one it started, children included); above about 0.1 the
numbers of that run are disturbed. It is approximate: a process's children
count when it reaps them, so a test runner that reaps a long-lived child
shows up as a burst.

{report.details(runs)}
"""
