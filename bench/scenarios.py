"""The five measurements of issue 4, each runnable alone against any stack.

Every scenario starts the stack in a fresh folder, measures, and stops
every process it started (also when it fails). A scenario returns a dict
of metric name → value; ``report.METRICS`` says what each one means.
"""

from __future__ import annotations

import http.client
import json
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from bench import clients, wrk
from bench.observe import ID_POLL_SECONDS, CountWatcher, IdWatcher
from bench.procs import Proc
from bench.stacks import OursStack, Stack
from bench.stats import percentile

TASK_BODY = {"action": "echo", "data": {"text": "hello"}}
DRAIN_POLL_SECONDS = 0.01
DRAIN_MIN_RATE = 50  # tasks/s: the drain gives up after backlog / this + a minute
E2E_GRACE_SECONDS = 30.0  # how long after the last POST a completion may still come
WARMUP_TIMEOUT_SECONDS = 30.0
SCENARIOS = ("enqueue", "bulk", "drain", "e2e", "scale")


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
)
QUICK = Sizes(
    enqueue_seconds=2,
    enqueue_clients=16,
    bulk_seconds=2,
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

    def stack(self, stack_cls: type[Stack], scenario: str) -> Stack:
        """The stack in a new, empty folder (a database left from before would skew it)."""
        suffix = f"-{self.round + 1}" if self.round else ""
        folder = self.workdir / f"{stack_cls.name}-{scenario}{suffix}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        extra = self.ours_args if stack_cls is OursStack else ()
        return stack_cls(folder, extra)


class _Profiler:
    """``py-spy record`` of our service while a scenario measures it (``--profile``)."""

    def __init__(self, ctx: Context, stack: Stack, scenario: str) -> None:
        self._proc: Proc | None = None
        if ctx.profile_dir is None or not isinstance(stack, OursStack):
            return
        ctx.profile_dir.mkdir(parents=True, exist_ok=True)
        out = ctx.profile_dir / f"{scenario}{'-gil' if ctx.profile_gil else ''}.txt"
        argv = [
            "py-spy",
            "record",
            "--pid",
            str(stack.service.pid),
            "--rate",
            "200",
            "--format",
            "raw",
            "--nonblocking",
            "--threads",
            "-o",
            str(out),
        ]
        if ctx.profile_gil:
            argv.append("--gil")
        self._proc = Proc("py-spy", argv, stack.workdir / "py-spy.log")
        time.sleep(0.5)  # py-spy attaches
        ctx.log(f"    profiling pid {stack.service.pid} into {out}")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.stop(signal.SIGINT)  # py-spy writes its file on SIGINT


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


def enqueue(ctx: Context, stack_cls: type[Stack]) -> dict[str, float]:
    """POST /tasks, one task per request, 16 keep-alive clients (wrk), for N seconds."""
    sizes = ctx.sizes
    stack = ctx.stack(stack_cls, "enqueue")
    try:
        stack.start(None)
        body = _task_body_file(stack.workdir)
        if sizes.warmup_seconds:
            _load(ctx, stack.base_url, "/tasks", sizes.warmup_seconds, sizes.enqueue_clients, body)
        profiler = _Profiler(ctx, stack, "enqueue")
        try:
            rate, p50, p99, errors = _load(
                ctx, stack.base_url, "/tasks", sizes.enqueue_seconds, sizes.enqueue_clients, body
            )
        finally:
            profiler.stop()
    finally:
        stack.stop()
    return {
        "enqueue_rps": rate,
        "enqueue_p50_ms": p50,
        "enqueue_p99_ms": p99,
        "enqueue_errors": errors,
    }


def bulk(ctx: Context, stack_cls: type[Stack]) -> dict[str, float]:
    """POST /tasks with arrays of 1,000 tasks from 4 keep-alive clients, for N seconds."""
    sizes = ctx.sizes
    stack = ctx.stack(stack_cls, "bulk")
    batch = orjson.dumps([{"action": "echo", "data": {"n": n}} for n in range(sizes.bulk_batch)])
    try:
        stack.start(None)
        profiler = _Profiler(ctx, stack, "bulk")
        try:
            result = clients.closed_loop(
                stack.base_url, "POST", "/tasks", batch, 202, sizes.bulk_clients, sizes.bulk_seconds
            )
        finally:
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
    }


def drain(ctx: Context, stack_cls: type[Stack]) -> dict[str, float]:
    """A backlog made with the workers stopped, then 2 workers with no simulated work."""
    sizes = ctx.sizes
    stack = ctx.stack(stack_cls, "drain")
    target = sizes.drain_tasks
    timeout = target / DRAIN_MIN_RATE + 60
    watcher: list[CountWatcher] = []

    def watch() -> None:
        watcher.append(
            CountWatcher(
                stack.completion_db, stack.completed_count_sql, target, timeout, DRAIN_POLL_SECONDS
            ).start()
        )

    try:
        stack.start(0.0, backlog=target, on_seeded=watch)
        profiler = _Profiler(ctx, stack, "drain")
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
    return {"drain_tps": seen.rate, "drain_seconds": seen.last_at - seen.first_at}


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


def e2e(ctx: Context, stack_cls: type[Stack]) -> dict[str, float]:
    """POSTs at a fixed rate; latency from when each POST was due to its committed completion."""
    sizes = ctx.sizes
    stack = ctx.stack(stack_cls, "e2e")
    count = int(sizes.e2e_rate * sizes.e2e_seconds)
    errors = 0
    post_ms: list[float] = []
    lag_ms: list[float] = []
    try:
        stack.start(0.0)
        for _ in range(3):  # every process has run a task before the clock starts
            _wait_completed(stack, _post_one(stack.base_url))
        watcher = IdWatcher(stack.completion_db, stack.completed_ids_sql)
        profiler = _Profiler(ctx, stack, "e2e")
        sending = True
        with clients.OpenLoop(
            stack.base_url, orjson.dumps(TASK_BODY), sizes.e2e_rate, count
        ) as sender:
            deadline = sender.start_at + sizes.e2e_seconds + E2E_GRACE_SECONDS
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
                        continue
                    post_ms.append((answered - due) * 1000)
                    watcher.add(task_id, due)
                    arrived = True
                watcher.check(force=arrived)
                time.sleep(ID_POLL_SECONDS)
        watcher.close()
        profiler.stop()
    finally:
        stack.stop()
    latencies = sorted(x * 1000 for x in watcher.done.values())
    post_ms.sort()
    lag_ms.sort()
    return {
        "e2e_p50_ms": percentile(latencies, 50),
        "e2e_p99_ms": percentile(latencies, 99),
        "e2e_max_ms": latencies[-1] if latencies else float("nan"),
        "e2e_completed": len(latencies),
        "e2e_lost": count - len(latencies),
        "e2e_errors": errors,
        "e2e_post_p99_ms": percentile(post_ms, 99),
        "e2e_send_lag_p99_ms": percentile(lag_ms, 99),
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


RUNNERS: dict[str, Callable[[Context, type[Stack]], dict[str, float]]] = {
    "enqueue": enqueue,
    "bulk": bulk,
    "drain": drain,
    "e2e": e2e,
    "scale": scale,
}
