"""The table: ours against Huey and Celery, with ratios and the targets of issue 4."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from bench.scenarios import Sizes

HIGHER, LOWER = "higher", "lower"
OTHER_LOAD_LIMIT_CORES = 0.1  # other programs busier than this during a run disturb it
DISTURBED = " *"

# runs[stack][scenario] is one dict of metrics per round.
Runs = dict[str, dict[str, list[dict[str, float]]]]


def summarize(runs: Runs) -> tuple[dict[str, dict[str, float]], set[tuple[str, str]]]:
    """Medians per stack and metric, over the rounds no other program disturbed when there
    are any; and the (stack, metric) pairs that had only disturbed rounds."""
    results: dict[str, dict[str, float]] = {}
    disturbed: set[tuple[str, str]] = set()
    for stack, by_scenario in runs.items():
        results[stack] = {}
        for scenario, rounds in by_scenario.items():
            quiet = [
                r
                for r in rounds
                if r.get(f"{scenario}_other_load_cores", 0.0) < OTHER_LOAD_LIMIT_CORES
            ]
            for key in {key for r in rounds for key in r}:
                values = [r[key] for r in (quiet or rounds) if key in r]
                results[stack][key] = statistics.median(values)
                if not quiet:
                    disturbed.add((stack, key))
    return results, disturbed


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str
    better: str
    target: float | None = None  # for ours; ≥ when higher is better, ≤ when lower
    vs_huey: float | None = None  # ours must be at least this many times better
    vs_celery: float | None = None
    digits: int = 0


def metrics(sizes: Sizes) -> list[Metric]:
    rows = f"{sizes.scale_rows:,}"
    return [
        Metric(
            "enqueue_rps",
            f"enqueue, {sizes.enqueue_clients} clients",
            "req/s",
            HIGHER,
            1300,
            1.0,
            1.7,
        ),
        Metric("enqueue_p50_ms", "enqueue p50", "ms", LOWER, digits=1),
        Metric("enqueue_p99_ms", "enqueue p99", "ms", LOWER, 25, digits=1),
        Metric(
            "bulk_tps",
            f"bulk enqueue, {sizes.bulk_batch:,}/request, {sizes.bulk_clients} clients",
            "tasks/s",
            HIGHER,
            30000,
        ),
        Metric(
            "drain_tps",
            f"drain {sizes.drain_tasks:,}, 2 workers",
            "tasks/s",
            HIGHER,
            4000,
            2.5,
            4.0,
        ),
        Metric("e2e_p50_ms", f"end to end at {sizes.e2e_rate:g}/s, p50", "ms", LOWER, digits=1),
        Metric("e2e_p99_ms", f"end to end at {sizes.e2e_rate:g}/s, p99", "ms", LOWER, 30, digits=1),
        Metric("rss_empty_mb", "peak RSS, empty table", "MB", LOWER, digits=1),
        Metric("rss_held_mb", f"peak RSS holding {rows} queued", "MB", LOWER, 150, digits=1),
        Metric(
            "rss_drain_mb",
            f"peak RSS draining {rows} for {sizes.scale_drain_seconds:g} s",
            "MB",
            LOWER,
            150,
            digits=1,
        ),
        Metric("scale_drain_tps", f"drain rate with {rows} queued", "tasks/s", HIGHER),
        Metric("get_all_p50_ms", f"GET /tasks at {rows} rows, p50", "ms", LOWER, digits=2),
        Metric("get_all_p99_ms", f"GET /tasks at {rows} rows, p99", "ms", LOWER, 20, digits=2),
        Metric(
            "get_queued_p99_ms",
            f"GET /tasks?status=queued at {rows} rows, p99",
            "ms",
            LOWER,
            20,
            digits=2,
        ),
        Metric(
            "get_running_p99_ms",
            f"GET /tasks?status=running at {rows} rows, p99",
            "ms",
            LOWER,
            20,
            digits=2,
        ),
    ]


def _value(results: dict, stack: str, key: str) -> float | None:
    value = results.get(stack, {}).get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def _fmt(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _advantage(metric: Metric, ours: float | None, theirs: float | None) -> float | None:
    """How many times better ours is: above 1 means ours wins, whichever way is better."""
    if ours is None or theirs is None or ours <= 0 or theirs <= 0:
        return None
    return ours / theirs if metric.better == HIGHER else theirs / ours


def _target_text(metric: Metric) -> str:
    parts = []
    if metric.target is not None:
        sign = "≥" if metric.better == HIGHER else "≤"
        parts.append(f"{sign} {metric.target:,g}")
    if metric.vs_huey is not None:
        parts.append(f"≥ {metric.vs_huey:g}× Huey")
    if metric.vs_celery is not None:
        parts.append(f"≥ {metric.vs_celery:g}× Celery")
    return "; ".join(parts)


def _met(metric: Metric, ours: float | None, vs_huey: float | None, vs_celery: float | None) -> str:
    if ours is None or not _target_text(metric):
        return ""
    checks = []
    if metric.target is not None:
        checks.append(ours >= metric.target if metric.better == HIGHER else ours <= metric.target)
    if metric.vs_huey is not None and vs_huey is not None:
        checks.append(vs_huey >= metric.vs_huey)
    if metric.vs_celery is not None and vs_celery is not None:
        checks.append(vs_celery >= metric.vs_celery)
    return "yes" if all(checks) else "no"


def table(
    results: dict, sizes: Sizes, disturbed: set[tuple[str, str]] = frozenset()
) -> list[list[str]]:
    header = [
        "what",
        "unit",
        "ours",
        "Huey",
        "Celery",
        "ours vs Huey",
        "ours vs Celery",
        "target (ours)",
        "met",
    ]
    rows = [header]
    for metric in metrics(sizes):
        ours = _value(results, "ours", metric.key)
        huey = _value(results, "huey", metric.key)
        celery = _value(results, "celery", metric.key)
        if ours is None and huey is None and celery is None:
            continue
        vs_huey = _advantage(metric, ours, huey)
        vs_celery = _advantage(metric, ours, celery)
        cells = [
            _fmt(value, metric.digits) + (DISTURBED if (stack, metric.key) in disturbed else "")
            for stack, value in (("ours", ours), ("huey", huey), ("celery", celery))
        ]
        rows.append(
            [
                metric.label,
                metric.unit,
                *cells,
                "—" if vs_huey is None else f"{vs_huey:.2f}×",
                "—" if vs_celery is None else f"{vs_celery:.2f}×",
                _target_text(metric),
                _met(metric, ours, vs_huey, vs_celery),
            ]
        )
    return rows


def markdown(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return "\n".join(lines)


def plain(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for index, row in enumerate(rows):
        out.append(
            "  ".join(
                cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i])
                for i, cell in enumerate(row)
            )
        )
        if index == 0:
            out.append("  ".join("-" * width for width in widths))
    return "\n".join(out)


def _number(value: float) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "—"
    return f"{value:,.3f}".rstrip("0").rstrip(".")


def details(runs: Runs) -> str:
    """Every number each stack produced (errors, losses, generator lag), every round of it."""
    flat: dict[str, dict[str, list[float]]] = {}
    for stack, by_scenario in runs.items():
        for rounds in by_scenario.values():
            for r in rounds:
                for key, value in r.items():
                    flat.setdefault(stack, {}).setdefault(key, []).append(value)
    keys = sorted({key for values in flat.values() for key in values})
    stacks = [stack for stack in ("ours", "huey", "celery") if stack in flat]
    rows = [["metric", *stacks]]
    for key in keys:
        cells = [
            " / ".join(_number(v) for v in flat[stack].get(key, [])) or "—" for stack in stacks
        ]
        rows.append([key, *cells])
    return markdown(rows)
