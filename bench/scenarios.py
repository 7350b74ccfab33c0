"""The measurements of issues 4 and 14, each runnable alone against any stack.

Every scenario starts the stack in a fresh folder (and, on PostgreSQL, a
fresh scratch database), measures, and stops every process it started (also
when it fails). A scenario returns a dict of metric name → value;
``report.metrics`` says what each one means. ``drain2`` and ``e2e2`` are
``drain`` and ``e2e`` with two nodes on one database. The ``physical`` stack
is the storage's own limit (``bench/physical.py``).
"""

from __future__ import annotations

import collections
import functools
import http.client
import json
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from bench import clients, pg, physical, steps, wrk
from bench.cpu import CpuMeter, per_task_metrics
from bench.observe import ID_POLL_SECONDS, CountWatcher, IdWatcher
from bench.profiler import Profiler
from bench.stacks import OursStack, Stack
from bench.stats import percentile

TASK_BODY = {"action": "echo", "data": {"text": "hello"}}
DRAIN_POLL_SECONDS = 0.01
DRAIN_MIN_RATE = 50  # tasks/s: the drain gives up after backlog / this + a minute
E2E_GRACE_SECONDS = 30.0  # how long after the last POST a completion may still come
WARMUP_TIMEOUT_SECONDS = 30.0
SCENARIOS = ("enqueue", "bulk", "drain", "drain2", "e2e", "e2e2", "scale", "mix", "slow", "prune")
# What a run does by default on each storage, and with which stacks (in table order).
DEFAULT_SCENARIOS = {
    "sqlite": ("enqueue", "bulk", "drain", "e2e", "scale", "mix", "slow"),
    "postgresql": ("enqueue", "bulk", "drain", "drain2", "e2e2", "scale", "mix"),
}
DEFAULT_STACKS = {
    "sqlite": ("ours", "huey", "celery", "physical"),
    "postgresql": ("ours", "procrastinate", "celery", "physical"),
}
DATABASES = tuple(DEFAULT_SCENARIOS)
NODES = {"drain2": 2, "e2e2": 2}  # scenarios with two nodes on one database
# prune runs only by name (--only prune), see bench/prune.py
OURS_ONLY = ("scale", "mix", "slow", "prune")
PHYSICAL_SCENARIOS = ("enqueue", "bulk", "drain", "drain2")


@dataclass(frozen=True)
class Sizes:
    enqueue_seconds: float
    enqueue_clients: int
    bulk_seconds: float
    bulk_batch: int
    bulk_clients: int
    drain_tasks: int
    e2e_rate: float  # tasks/s offered
    e2e_seconds: float
    scale_rows: int
    scale_get_seconds: float  # per URL
    scale_drain_seconds: float  # 0: skip the "RSS while draining" phase
    scale_baseline: bool  # measure the RSS of the service on an empty table too
    warmup_seconds: float
    mix_rate: float  # tasks/s offered in the commit-latency mix
    mix_seconds: float
    slow_seconds: float  # how long legitimate POSTs are timed while the attack holds on


FULL = Sizes(
    enqueue_seconds=10,
    enqueue_clients=16,
    bulk_seconds=10,
    bulk_batch=1000,
    bulk_clients=4,
    drain_tasks=20_000,
    e2e_rate=300,
    e2e_seconds=20,
    scale_rows=1_000_000,
    scale_get_seconds=5,
    scale_drain_seconds=10,
    scale_baseline=True,
    warmup_seconds=1,
    mix_rate=40,
    mix_seconds=20,
    slow_seconds=60,
)
QUICK = Sizes(
    enqueue_seconds=2,
    enqueue_clients=16,
    bulk_seconds=1.5,
    bulk_batch=1000,
    bulk_clients=4,
    drain_tasks=2_000,
    e2e_rate=300,
    e2e_seconds=1.5,
    scale_rows=50_000,
    scale_get_seconds=1,
    scale_drain_seconds=0,
    scale_baseline=False,
    warmup_seconds=0,
    mix_rate=40,
    mix_seconds=2,
    slow_seconds=5,
)


@dataclass
class Context:
    sizes: Sizes
    workdir: Path
    ours_args: tuple[str, ...] = ()
    profile_dir: Path | None = None  # py-spy record our service into this folder
    profile_gil: bool = False  # sample only the thread holding the GIL (py-spy --gil)
    log: Callable[[str], None] = print
    round: int = 0  # with --repeat, which run of the scenario this is
    warned_no_wrk: bool = False
    db: str = "sqlite"  # the storage of this part of the run: sqlite or postgresql
    pg_url: str = pg.SERVER_URL  # the server the PostgreSQL scratch databases go on
    keep: bool = False  # keep scratch databases (and folders) for a look afterwards
    scratch: list[str] = field(default_factory=list)  # databases to drop after the scenario

    def folder(self, name: str, scenario: str) -> Path:
        suffix = f"-{self.round + 1}" if self.round else ""
        folder = self.workdir / self.db / f"{name}-{scenario}{suffix}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        return folder

    def database(self, name: str, scenario: str) -> str | None:
        """A new scratch PostgreSQL database's URL, or None on SQLite."""
        if self.db != "postgresql":
            return None
        dbname = pg.scratch_name(name, scenario, str(self.round + 1))
        self.scratch.append(dbname)
        return pg.create_database(self.pg_url, dbname)

    def stack(self, stack_cls: type[Stack], scenario: str, nodes: int = 1) -> Stack:
        """The stack in a new, empty folder and database (one left from before would skew it)."""
        folder = self.folder(stack_cls.name, scenario)
        extra = self.ours_args if stack_cls is OursStack else ()
        return stack_cls(folder, extra, self.database(stack_cls.name, scenario), nodes)

    def drop_scratch(self) -> None:
        """Drop this scenario's scratch databases (unless --keep)."""
        names, self.scratch = self.scratch, []
        if self.keep:
            return
        for name in names:
            try:
                pg.drop_database(self.pg_url, name)
            except Exception as exc:  # noqa: BLE001 - a leftover database is only disk space
                self.log(f"    note: could not drop {name}: {exc}")


def _load(
    ctx: Context,
    base_url: str,
    path: str,
    seconds: float,
    connections: int,
    body_file: Path | None = None,
) -> tuple[float, float, float, int]:
    """Closed-loop load on one URL: (requests/s, p50 ms, p99 ms, errors), by wrk if installed,
    else by Python client processes (one per connection)."""
    if wrk.available():
        result = wrk.run(
            f"{base_url}{path}",
            seconds,
            connections,
            post_body=body_file,
            threads=min(wrk.WRK_THREADS, connections),
        )
        return result.rate, result.p50_ms, result.p99_ms, result.errors
    if not ctx.warned_no_wrk:
        ctx.log("    wrk not found: using Python client processes instead")
        ctx.warned_no_wrk = True
    if body_file is None:
        outcome = clients.closed_loop(base_url, "GET", path, None, 200, connections, seconds)
    else:
        outcome = clients.closed_loop(
            base_url, "POST", path, body_file.read_bytes(), 202, connections, seconds
        )
    return outcome.rate, outcome.p50_ms, outcome.p99_ms, outcome.errors


def _task_body_file(folder: Path) -> Path:
    path = folder / "task.json"
    path.write_bytes(orjson.dumps(TASK_BODY))
    return path


def _meter(stack: Stack) -> CpuMeter:
    return CpuMeter(stack.cpu_groups())


def enqueue(ctx: Context, stack_cls: type[Stack]) -> dict[str, float]:
    """POST /tasks, one task per request, 16 keep-alive clients (wrk), for N seconds."""
    sizes = ctx.sizes
    stack = ctx.stack(stack_cls, "enqueue")
    try:
        stack.start(None)
        body = _task_body_file(stack.workdir)
        if sizes.warmup_seconds:
            _load(ctx, stack.base_url, "/tasks", sizes.warmup_seconds, sizes.enqueue_clients, body)
        profiler = Profiler(ctx, stack, "enqueue")
        meter = _meter(stack)
        meter.start()
        try:
            rate, p50, p99, errors = _load(
                ctx, stack.base_url, "/tasks", sizes.enqueue_seconds, sizes.enqueue_clients, body
            )
        finally:
            cpu = meter.stop()
            profiler.stop()
    finally:
        stack.stop()
    return {
        "enqueue_rps": rate,
        "enqueue_p50_ms": p50,
        "enqueue_p99_ms": p99,
        "enqueue_errors": errors,
        **per_task_metrics("enqueue", cpu, rate * sizes.enqueue_seconds),
    }


def bulk(ctx: Context, stack_cls: type[Stack]) -> dict[str, float]:
    """POST /tasks with arrays of 1,000 tasks from 4 keep-alive clients, for N seconds."""
    sizes = ctx.sizes
    stack = ctx.stack(stack_cls, "bulk")
    batch = orjson.dumps([{"action": "echo", "data": {"n": n}} for n in range(sizes.bulk_batch)])
    try:
        stack.start(None)
        profiler = Profiler(ctx, stack, "bulk")
        meter = _meter(stack)
        meter.start()
        try:
            result = clients.closed_loop(
                stack.base_url, "POST", "/tasks", batch, 202, sizes.bulk_clients, sizes.bulk_seconds
            )
        finally:
            cpu = meter.stop()
            profiler.stop()
    finally:
        stack.stop()
    if result.ok:
        answered = json.loads(result.sample)
        if answered.get("count") != sizes.bulk_batch or len(answered["tasks"]) != sizes.bulk_batch:
            raise RuntimeError(f"bulk POST answered {result.sample[:200]!r}")
    return {
        "bulk_tps": result.rate * sizes.bulk_batch,
        "bulk_p50_ms": result.p50_ms,
        "bulk_p99_ms": result.p99_ms,
        "bulk_errors": result.errors,
        **per_task_metrics("bulk", cpu, result.ok * sizes.bulk_batch),
    }


def drain(ctx: Context, stack_cls: type[Stack], nodes: int = 1) -> dict[str, float]:
    """A backlog made with the workers stopped, then the workers with no simulated work
    (2 per node); with ``nodes=2``, two nodes on one database."""
    sizes = ctx.sizes
    prefix = "drain" if nodes == 1 else f"drain{nodes}"
    stack = ctx.stack(stack_cls, prefix, nodes)
    target = sizes.drain_tasks
    timeout = target / DRAIN_MIN_RATE + 60
    watcher: list[CountWatcher] = []
    meter = _meter(stack)

    def watch() -> None:
        watcher.append(
            CountWatcher(
                stack.completion_db,
                stack.completed_count_sql,
                target,
                timeout,
                DRAIN_POLL_SECONDS,
                on_first=meter.start,
                on_done=meter.stop,
            ).start()
        )

    try:
        stack.start(0.0, backlog=target, on_seeded=watch)
        profiler = Profiler(ctx, stack, prefix)
        try:
            seen = watcher[0].wait()
        finally:
            profiler.stop()
    finally:
        for each in watcher:
            each.close()
        stack.stop()
    if seen.count < target:
        raise RuntimeError(f"drain: only {seen.count} of {target} completed within {timeout:.0f}s")
    return {
        f"{prefix}_tps": seen.rate,
        f"{prefix}_seconds": seen.last_at - seen.first_at,
        **per_task_metrics(prefix, meter.result, seen.count - seen.first_count),
    }


def _post_one(base_url: str) -> str:
    host, _, port = base_url.removeprefix("http://").partition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request(
        "POST", "/tasks", body=orjson.dumps(TASK_BODY), headers={"Content-Type": "application/json"}
    )
    response = conn.getresponse()
    data = response.read()
    conn.close()
    if response.status != 202:
        raise RuntimeError(f"POST answered {response.status}: {data[:200]!r}")
    return json.loads(data)["id"]


def _wait_completed(stack: Stack, task_id: str) -> None:
    watcher = IdWatcher(stack.completion_db, stack.completed_ids_sql)
    watcher.add(task_id, time.monotonic())
    deadline = time.monotonic() + WARMUP_TIMEOUT_SECONDS
    try:
        while watcher.pending and time.monotonic() < deadline:
            watcher.check(force=True)
            time.sleep(0.01)
    finally:
        watcher.close()
    if watcher.pending:
        raise RuntimeError(f"{stack.name}: warm-up task not completed in {WARMUP_TIMEOUT_SECONDS}s")


def open_loop(
    stack: Stack,
    watcher: IdWatcher,
    bodies: list[bytes],
    rate: float,
    seconds: float,
) -> dict[str, list[float] | int]:
    """POST ``bodies`` in turn at ``rate`` for ``seconds``, to each node in turn, and
    watch every accepted task until it is seen completed (or the grace time ends)."""
    count = int(rate * seconds)
    errors = 0
    error_kinds: collections.Counter[str] = collections.Counter()
    post_ms: list[float] = []
    lag_ms: list[float] = []
    sending = True
    with clients.OpenLoop(stack.base_urls, bodies, rate, count) as sender:
        deadline = sender.start_at + seconds + E2E_GRACE_SECONDS
        while time.monotonic() < deadline and (sending or watcher.pending):
            arrived = False
            while sending:
                try:
                    item = sender.accepted.get_nowait()
                except clients.Empty:
                    break
                if item is None:
                    sending = False
                    break
                task_id, due, sent, answered, error = item
                lag_ms.append((sent - due) * 1000)
                if error is not None:
                    errors += 1
                    error_kinds[error] += 1
                    continue
                post_ms.append((answered - due) * 1000)
                watcher.add(task_id, due)
                arrived = True
            watcher.check(force=arrived)
            time.sleep(ID_POLL_SECONDS)
    for error, times in error_kinds.most_common(5):  # what the figures cannot say
        print(f"    {stack.name}: {times} × {error}", file=sys.stderr, flush=True)
    return {"count": count, "errors": errors, "post_ms": sorted(post_ms), "lag_ms": sorted(lag_ms)}


def e2e(ctx: Context, stack_cls: type[Stack], nodes: int = 1) -> dict[str, float]:
    """POSTs at a fixed rate (to each node in turn); latency from when each POST was due to
    its committed completion."""
    sizes = ctx.sizes
    prefix = "e2e" if nodes == 1 else f"e2e{nodes}"
    stack = ctx.stack(stack_cls, prefix, nodes)
    try:
        stack.start(0.0)
        for base_url in stack.base_urls * 3:  # every process has run a task before the clock
            _wait_completed(stack, _post_one(base_url))
        watcher = IdWatcher(stack.completion_db, stack.completed_ids_sql)
        profiler = Profiler(ctx, stack, prefix)
        try:
            sent = open_loop(
                stack, watcher, [orjson.dumps(TASK_BODY)], sizes.e2e_rate, sizes.e2e_seconds
            )
        finally:
            watcher.close()
            profiler.stop()
    finally:
        stack.stop()
    latencies = sorted(x * 1000 for x in watcher.done.values())
    split = {}
    if isinstance(stack, OursStack):  # where the time went, from the tasks' own history
        due = {task_id: watcher.seen_at[task_id] - lag for task_id, lag in watcher.done.items()}
        split = steps.split(stack.completion_db, due, watcher.seen_at, prefix)
    return {
        f"{prefix}_p50_ms": percentile(latencies, 50),
        f"{prefix}_p99_ms": percentile(latencies, 99),
        f"{prefix}_p999_ms": percentile(latencies, 99.9),
        f"{prefix}_max_ms": latencies[-1] if latencies else float("nan"),
        f"{prefix}_completed": len(latencies),
        f"{prefix}_lost": sent["count"] - len(latencies),
        f"{prefix}_errors": sent["errors"],
        f"{prefix}_post_p99_ms": percentile(sent["post_ms"], 99),
        f"{prefix}_send_lag_p99_ms": percentile(sent["lag_ms"], 99),
        **split,
    }


SCALE_URLS = {
    "get_all": "/tasks",
    "get_queued": "/tasks?status=queued",
    "get_running": "/tasks?status=running",
}


def scale(ctx: Context, stack_cls: type[Stack]) -> dict[str, float]:
    """Our service's memory with an empty table, holding N queued rows, and draining them;
    GET /tasks latency at N rows. Only our service: the others keep no task table to list."""
    if stack_cls is not OursStack:
        return {}
    sizes = ctx.sizes
    metrics: dict[str, float] = {}
    mb = 1024 * 1024

    if sizes.scale_baseline:
        empty = ctx.stack(stack_cls, "scale-empty")
        try:
            empty.start(None, hold_workers=True)
            _load(ctx, empty.base_url, "/tasks", max(1.0, sizes.scale_get_seconds), 1)
            metrics["rss_empty_mb"] = empty.service.peak_rss_bytes() / mb
        finally:
            empty.stop()

    stack = ctx.stack(stack_cls, "scale")
    try:
        ctx.log(f"    seeding {sizes.scale_rows:,} queued tasks")
        stack.start(None, backlog=sizes.scale_rows, hold_workers=True)
        for key, path in SCALE_URLS.items():
            _, p50, p99, errors = _load(ctx, stack.base_url, path, sizes.scale_get_seconds, 1)
            if errors:
                raise RuntimeError(f"GET {path}: {errors} errors")
            metrics[f"{key}_p50_ms"] = p50
            metrics[f"{key}_p99_ms"] = p99
        metrics["rss_held_mb"] = stack.service.peak_rss_bytes() / mb
    finally:
        stack.stop()

    if sizes.scale_drain_seconds:
        watcher = CountWatcher(
            stack.completion_db,
            stack.completed_count_sql,
            sizes.scale_rows,
            sizes.scale_drain_seconds,
            DRAIN_POLL_SECONDS * 10,
        )
        try:
            watcher.start()
            stack.start(0.0)
            seen = watcher.wait()
            metrics["rss_drain_mb"] = stack.service.peak_rss_bytes() / mb
            metrics["scale_drain_tps"] = seen.rate
        finally:
            watcher.close()
            stack.stop()
    return metrics


SLOW_IDLE = 100  # connections that send nothing
SLOW_SLOW = 100  # connections that send a header line every 5 s
SLOW_PROBE_INTERVAL_SECONDS = 0.05


def slow(ctx: Context, stack_cls: type[Stack]) -> dict[str, float]:
    """Slow and idle clients (issue 12): 200 connections held open from eight loopback
    addresses (100 sending nothing, 100 a header line every 5 s, each reopened when the
    server closes it) while one client POSTs a task every 50 ms on a new connection:
    how many of its POSTs are answered, and how fast."""
    from bench.slow_clients import Attack, probe

    stack = ctx.stack(stack_cls, "slow")
    try:
        stack.start(None)
        port = int(stack.base_url.rsplit(":", 1)[1])
        with Attack(port, idle=SLOW_IDLE, slow=SLOW_SLOW) as attack:
            if not attack.all_open.wait(30):
                raise RuntimeError(f"only {attack.stats.open_now} attack connections opened")
            result = probe(port, ctx.sizes.slow_seconds, SLOW_PROBE_INTERVAL_SECONDS)
            held = attack.stats.open_now
    finally:
        stack.stop()
    sent = len(result.latencies_ms) + len(result.failures)
    return {
        "slow_p50_ms": result.percentile(0.5),
        "slow_p99_ms": result.percentile(0.99),
        "slow_answered_pct": 100.0 * len(result.latencies_ms) / max(1, sent),
        "slow_errors": float(len(result.failures)),
        "slow_held": float(held),
    }


RUNNERS: dict[str, Callable[[Context, type[Stack]], dict[str, float]]] = {
    "enqueue": enqueue,
    "bulk": bulk,
    "drain": drain,
    "drain2": functools.partial(drain, nodes=2),
    "e2e": e2e,
    "e2e2": functools.partial(e2e, nodes=2),
    "scale": scale,
    "slow": slow,
}


def applies(scenario: str, stack_name: str, db: str) -> bool:
    """Whether ``stack_name`` takes part in ``scenario`` on storage ``db``."""
    from bench.stacks import STACKS

    if stack_name == "physical":
        return scenario in PHYSICAL_SCENARIOS
    if scenario in OURS_ONLY:
        return stack_name == "ours"
    stack_cls = STACKS[stack_name]
    if db not in stack_cls.databases:
        return False
    return NODES.get(scenario, 1) == 1 or stack_name != "huey"


def run_one(ctx: Context, scenario: str, stack_name: str) -> dict[str, float]:
    from bench import mix, prune
    from bench.stacks import STACKS

    try:
        if stack_name == "physical":
            return physical.scenario(ctx, scenario)
        if scenario == "mix":
            return mix.run(ctx)
        if scenario == "prune":
            return prune.run(ctx)
        return RUNNERS[scenario](ctx, STACKS[stack_name])
    finally:
        ctx.drop_scratch()
