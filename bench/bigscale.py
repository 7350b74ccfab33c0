"""``--scale ROWS``: our service on a large table (ours only; not part of the default run).

For each storage of ``--db``:

1. the table is filled by ``bench.fill`` (SQL) with ROWS tasks: all but
   ``QUEUED_ROWS`` completed, the newest ``QUEUED_ROWS`` queued; the fill is
   timed and its size on disk divided by ROWS (SQLite: the database file
   and its WAL; PostgreSQL: ``pg_total_relation_size('tasks')``, table,
   indexes and TOAST);
2. the service starts holding its workers (as in the scale scenario) and
   ``GET_SECONDS`` of one-at-a-time GETs measure each listing the API has:
   no filter, ``?status=`` each status, and ``?limit=`` its maximum; then
   ``/metrics`` (noted as missing while it answers 404);
3. the service restarts with no simulated work and drains the backlog for
   ``DRAIN_WINDOW_SECONDS``; the same backlog on an otherwise empty table is
   drained the same way, and the ratio of the two rates is checked against
   ``DRAIN_RATIO_TARGET``.

Peak RSS is the kernel's high-water mark of each service process.
"""

from __future__ import annotations

import http.client
import json
import math
import re
import time
from pathlib import Path

from bench import fill, machine, pg, report
from bench.observe import CountWatcher
from bench.scenarios import Context, _load
from bench.stacks import OursStack

QUEUED_ROWS = 100_000
GET_SECONDS = 5.0  # per URL, one request at a time
DRAIN_WINDOW_SECONDS = 10.0
DRAIN_POLL_SECONDS = 0.1
DRAIN_RATIO_TARGET = 0.8  # the drain on the large table within 20 % of the empty one's
GET_P99_TARGET_MS = 20.0
METRICS_P99_TARGET_MS = 100.0  # the issue asks a /metrics scrape to take at most 100 ms
LIST_LIMIT_MAX = 1000  # web.validation.MAX_LIST_LIMIT
STATUSES = ("scheduled", "queued", "running", "completed", "retrying", "dead", "canceled")
MB = 1024 * 1024
# Counted on the claim index and the status index: a count of the completed rows
# would scan millions of index entries at every poll.
BACKLOG_DONE_SQL = (
    "SELECT {queued} - count(*) FROM tasks WHERE status IN ('queued', 'retrying', 'running')"
)


def parse_rows(text: str) -> int:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([km]?)", text.strip().lower())
    if not match:
        raise SystemExit(f"--scale {text!r}: expected a count such as 10m, 1m or 200k")
    factor = {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2)]
    return int(float(match.group(1)) * factor)


def _urls() -> dict[str, str]:
    """Every filter of GET /tasks, alone, then combined: each status, the queue, the
    action, a creation window, the largest page."""
    day_ago = int(time.time()) - 86_400
    urls = {"get_all": "/tasks"}
    urls.update({f"get_{status}": f"/tasks?status={status}" for status in STATUSES})
    urls["get_queue"] = "/tasks?queue=default"
    urls["get_action"] = f"/tasks?action={fill.ACTION}"
    urls["get_queue_action_status"] = f"/tasks?queue=default&action={fill.ACTION}&status=queued"
    urls["get_created_after"] = f"/tasks?created_after={day_ago}"
    urls["get_created_before"] = f"/tasks?created_before={day_ago}"
    urls["get_limit_max"] = f"/tasks?limit={LIST_LIMIT_MAX}"
    return urls


def _disk_bytes(stack: OursStack) -> float:
    if stack.db_url:
        conn = pg.connect(stack.db_url)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_total_relation_size('tasks')")
                return float(cur.fetchone()[0])
        finally:
            conn.close()
    files = [stack.workdir / name for name in ("tasks.db", "tasks.db-wal")]
    return float(sum(path.stat().st_size for path in files if path.exists()))


def _status(base_url: str, path: str) -> int:
    host, _, port = base_url.removeprefix("http://").partition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _drain_rate(stack: OursStack, queued: int) -> tuple[float, float]:
    """Drain for the window; (tasks/s, peak RSS MB of the draining service)."""
    watcher = CountWatcher(
        stack.completion_db,
        BACKLOG_DONE_SQL.format(queued=queued),
        queued,
        DRAIN_WINDOW_SECONDS,
        DRAIN_POLL_SECONDS,
    )
    try:
        stack.start(0.0, on_seeded=watcher.start)
        seen = watcher.wait()
        return seen.rate, stack.service.peak_rss_bytes() / MB
    finally:
        watcher.close()
        stack.stop()


def run_db(ctx: Context, rows: int, get_seconds: float) -> tuple[dict[str, float], list[str]]:
    queued = min(QUEUED_ROWS, rows // 10)
    notes: list[str] = []
    metrics: dict[str, float] = {"big_rows": rows, "big_queued": queued}
    stack = ctx.stack(OursStack, "bigscale")
    stack.migrate()
    started = time.monotonic()

    def progress(done: int) -> None:
        if done % 1_000_000 < fill.CHUNK_ROWS or done == rows:
            ctx.log(f"    filled {done:,} of {rows:,} rows, {time.monotonic() - started:.0f}s")

    metrics["big_fill_seconds"] = fill.fill(stack.url, rows - queued, queued, progress)
    metrics["big_disk_bytes_per_task"] = _disk_bytes(stack) / rows
    try:
        stack.start(None, hold_workers=True)
        for key, path in _urls().items():
            _, p50, p99, errors = _load(ctx, stack.base_url, path, get_seconds, 1)
            if errors:
                raise RuntimeError(f"GET {path}: {errors} errors")
            metrics[f"big_{key}_p50_ms"] = p50
            metrics[f"big_{key}_p99_ms"] = p99
        status = _status(stack.base_url, "/metrics")
        if status == 200:
            _, p50, p99, _ = _load(ctx, stack.base_url, "/metrics", get_seconds, 1)
            metrics["big_metrics_p50_ms"] = p50
            metrics["big_metrics_p99_ms"] = p99
        else:
            notes.append(f"/metrics answered {status}: no metrics endpoint yet, not measured")
        metrics["big_rss_held_mb"] = stack.service.peak_rss_bytes() / MB
    finally:
        stack.stop()
    metrics["big_drain_tps"], metrics["big_rss_drain_mb"] = _drain_rate(stack, queued)

    empty = ctx.stack(OursStack, "bigscale-empty")
    empty.migrate()
    fill.fill(empty.url, 0, queued)
    metrics["big_empty_drain_tps"], _ = _drain_rate(empty, queued)
    if metrics["big_empty_drain_tps"] > 0:
        metrics["big_drain_ratio"] = metrics["big_drain_tps"] / metrics["big_empty_drain_tps"]
    return metrics, notes


def _rows(results: dict[str, dict[str, float]]) -> list[list[str]]:
    dbs = list(results)
    header = ["what", "unit", *(report.DB_LABELS[db] for db in dbs), "target", "met"]
    lines: list[tuple[str, str, str, int, str, float | None]] = [
        ("big_fill_seconds", "fill the table (not measured work)", "s", 0, "", None),
        ("big_disk_bytes_per_task", "size on disk per task", "bytes", 0, "", None),
        ("big_rss_held_mb", "peak RSS, holding workers, GETs", "MB", 1, "≤", 150),
        ("big_rss_drain_mb", "peak RSS, draining", "MB", 1, "≤", 150),
        ("big_drain_tps", "drain rate, large table", "tasks/s", 0, "", None),
        ("big_empty_drain_tps", "drain rate, same backlog, empty table", "tasks/s", 0, "", None),
        ("big_drain_ratio", "large ÷ empty drain rate", "×", 2, "≥", DRAIN_RATIO_TARGET),
    ]
    for key, path in _urls().items():
        lines.append((f"big_{key}_p99_ms", f"GET {path}, p99", "ms", 2, "≤", GET_P99_TARGET_MS))
    lines.append(("big_metrics_p99_ms", "GET /metrics, p99", "ms", 2, "≤", METRICS_P99_TARGET_MS))
    rows = [header]
    for key, label, unit, digits, sign, target in lines:
        values = [results[db].get(key) for db in dbs]
        cells = ["—" if v is None or math.isnan(v) else f"{v:,.{digits}f}" for v in values]
        met = ""
        if target is not None:
            checks = [
                (v >= target if sign == "≥" else v <= target) for v in values if v is not None
            ]
            met = ("yes" if all(checks) else "no") if checks else ""
        target_text = f"{sign} {target:g}" if target is not None else ""
        rows.append([label, unit, *cells, target_text, met])
    return rows


def main(
    ctx: Context, dbs: list[str], text: str, results_dir: Path, large_dir: Path, wait_quiet: float
) -> int:
    """The run; its raw numbers go to ``results_dir``, its report to ``large_dir``."""
    from bench.cli import _wait_quiet

    rows = parse_rows(text)
    label = text.strip().lower()
    get_seconds = ctx.sizes.scale_get_seconds if rows < 1_000_000 else GET_SECONDS
    results: dict[str, dict[str, float]] = {}
    notes: dict[str, list[str]] = {}
    failures: list[str] = []
    started = time.monotonic()
    load_before = machine.load_average()
    for ctx.db in dbs:
        ctx.log(f"[{time.monotonic() - started:5.0f}s] {ctx.db} scale {rows:,} rows: ours")
        if wait_quiet:
            _wait_quiet(wait_quiet)
        try:
            with machine.OtherLoad() as other:
                results[ctx.db], notes[ctx.db] = run_db(ctx, rows, get_seconds)
            results[ctx.db]["big_other_load_cores"] = other.cores
            ctx.log("    " + ", ".join(f"{k}={v:,.1f}" for k, v in results[ctx.db].items()))
        except Exception as exc:  # noqa: BLE001 - the other storage still runs
            failures.append(f"{ctx.db}: {type(exc).__name__}: {exc}")
            ctx.log(f"    FAILED: {exc}")
        finally:
            ctx.drop_scratch()
    elapsed = time.monotonic() - started
    table = _rows(results) if results else [["nothing measured"]]
    print()
    print(report.plain(table))
    for db, lines in notes.items():
        for line in lines:
            print(f"note ({db}): {line}")
    for failure in failures:
        print(f"FAILED {failure}")
    results_dir.mkdir(parents=True, exist_ok=True)
    info = machine.describe(ctx.workdir, load_before, "postgresql" in dbs)
    raw = {"machine": info, "rows": rows, "results": results, "notes": notes}
    raw.update({"failures": failures, "elapsed_seconds": elapsed})
    (results_dir / f"scale-{label}.json").write_text(json.dumps(raw, indent=2, default=str))
    large_dir.mkdir(parents=True, exist_ok=True)
    doc = large_dir / f"SCALE-{label}.md"
    doc.write_text(
        f"# Our service with {rows:,} tasks in the table\n\n"
        f"Written by `python -m bench --scale {label} --db {','.join(dbs)}` in "
        f"{elapsed:.0f} s (each storage's other load, in cores, is in the JSON).\n\n"
        f"{report.markdown(table)}\n\n"
        + "".join(f"- {db}: {line}\n" for db, lines in notes.items() for line in lines)
        + "".join(f"- FAILED {failure}\n" for failure in failures)
        + "\n| | |\n|---|---|\n"
        + "\n".join(f"| {key} | {value} |" for key, value in info.items())
        + "\n"
    )
    print(f"wrote {doc} in {elapsed:.0f}s")
    return 1 if failures else 0
