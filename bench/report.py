"""The tables: ours against its peers on each storage, with ratios, targets and cost per task."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from bench.scenarios import DEFAULT_STACKS, Sizes

HIGHER, LOWER = "higher", "lower"
OTHER_LOAD_LIMIT_CORES = 0.1  # other programs busier than this during a run disturb it
DISTURBED = " *"
STACK_LABELS = {
    "ours": "ours",
    "huey": "Huey",
    "celery": "Celery",
    "procrastinate": "procrastinate",
    "physical": "physical",
}
DB_LABELS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
COST_SCENARIOS = ("enqueue", "bulk", "drain", "drain2")

# runs[db][stack][scenario] is one dict of metrics per round.
Runs = dict[str, dict[str, dict[str, list[dict[str, float]]]]]
Results = dict[str, dict[str, dict[str, float]]]  # results[db][stack][metric]
Disturbed = set[tuple[str, str, str]]  # (db, stack, metric) with only disturbed rounds


def summarize(runs: Runs) -> tuple[Results, Disturbed]:
    """Medians per storage, stack and metric, over the rounds no other program disturbed
    when there are any; and the values that had only disturbed rounds."""
    results: Results = {}
    disturbed: Disturbed = set()
    for db, by_stack in runs.items():
        results[db] = {}
        for stack, by_scenario in by_stack.items():
            results[db][stack] = {}
            for scenario, rounds in by_scenario.items():
                quiet = [
                    r
                    for r in rounds
                    if r.get(f"{scenario}_other_load_cores", 0.0) < OTHER_LOAD_LIMIT_CORES
                ]
                for key in {key for r in rounds for key in r}:
                    values = [r[key] for r in (quiet or rounds) if key in r]
                    results[db][stack][key] = statistics.median(values)
                    if not quiet:
                        disturbed.add((db, stack, key))
    return results, disturbed


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str
    better: str
    target: float | None = None  # for ours; ≥ when higher is better, ≤ when lower
    vs: tuple[tuple[str, float], ...] = ()  # (stack, ours must be at least this many times better)
    digits: int = 0
    vs_sqlite: float | None = None  # ours here must reach this share of ours on SQLite
    target_plus: str | None = None  # the target is ``target`` plus this metric of ours


def _common(sizes: Sizes, db: str) -> list[Metric]:
    """Rows every storage has: enqueue and bulk (one node), drain (one node)."""
    pg = db == "postgresql"
    return [
        Metric(
            "enqueue_rps",
            f"enqueue, {sizes.enqueue_clients} clients",
            "req/s",
            HIGHER,
            None if pg else 1300,
            () if pg else (("huey", 1.0), ("celery", 1.7)),
            vs_sqlite=0.9 if pg else None,
        ),
        Metric("enqueue_p50_ms", "enqueue p50", "ms", LOWER, digits=1),
        Metric("enqueue_p99_ms", "enqueue p99", "ms", LOWER, None if pg else 25, digits=1),
        Metric(
            "bulk_tps",
            f"bulk enqueue, {sizes.bulk_batch:,}/request, {sizes.bulk_clients} clients",
            "tasks/s",
            HIGHER,
            None if pg else 30000,
        ),
        Metric(
            "drain_tps",
            f"drain {sizes.drain_tasks:,}, 1 node (2 workers)",
            "tasks/s",
            HIGHER,
            None if pg else 8000,  # issue 14 (issue 4 asked for 4,000)
            () if pg else (("huey", 2.5), ("celery", 4.0)),
        ),
    ]


def _scale(sizes: Sizes) -> list[Metric]:
    rows = f"{sizes.scale_rows:,}"
    return [
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


def _mix(sizes: Sizes) -> list[Metric]:
    what = f"commit after return, fast/slow mix at {sizes.mix_rate:g}/s"
    return [
        Metric("mix_commit_p50_ms", f"{what}, p50", "ms", LOWER, digits=1),
        Metric(
            "mix_commit_p99_ms",
            f"{what}, p99",
            "ms",
            LOWER,
            10,
            digits=1,
            target_plus="mix_one_commit_ms",
        ),
        Metric("mix_one_commit_ms", "one durable commit (median)", "ms", LOWER, digits=2),
    ]


def _slow() -> list[Metric]:
    what = "POST while 200 slow and idle connections are held"
    return [
        Metric("slow_answered_pct", f"{what}: answered", "%", HIGHER, 100, digits=1),
        Metric("slow_p50_ms", f"{what}, p50", "ms", LOWER, digits=1),
        Metric("slow_p99_ms", f"{what}, p99", "ms", LOWER, 100, digits=1),
    ]


def metrics(sizes: Sizes, db: str = "sqlite") -> list[Metric]:
    rate = f"{sizes.e2e_rate:g}/s"
    if db == "postgresql":
        middle = [
            Metric(
                "drain2_tps",
                f"drain {sizes.drain_tasks:,}, 2 nodes (2 workers each)",
                "tasks/s",
                HIGHER,
                vs=(("procrastinate", 2.0), ("celery", 3.0)),
            ),
            Metric("e2e2_p50_ms", f"end to end at {rate}, 2 nodes, p50", "ms", LOWER, digits=1),
            Metric("e2e2_p99_ms", f"end to end at {rate}, 2 nodes, p99", "ms", LOWER, 25, digits=1),
            Metric("e2e2_p999_ms", f"end to end at {rate}, 2 nodes, p99.9", "ms", LOWER, digits=1),
        ]
    else:
        middle = [
            Metric("e2e_p50_ms", f"end to end at {rate}, p50", "ms", LOWER, digits=1),
            Metric("e2e_p99_ms", f"end to end at {rate}, p99", "ms", LOWER, 30, digits=1),
            Metric("e2e_p999_ms", f"end to end at {rate}, p99.9", "ms", LOWER, digits=1),
        ]
    slow = [] if db == "postgresql" else _slow()
    return [*_common(sizes, db), *middle, *_scale(sizes), *_mix(sizes), *slow, *_prune(sizes)]


def _prune(sizes: Sizes) -> list[Metric]:
    rows = f"{sizes.scale_rows:,}"
    return [
        Metric("prune_off_post_p99_ms", "POST p99, no pruning", "ms", LOWER, digits=1),
        Metric(
            "prune_on_post_p99_ms", f"POST p99 while pruning {rows} rows", "ms", LOWER, 50, digits=1
        ),
        Metric("prune_off_drain_tps", "drain rate, no pruning", "tasks/s", HIGHER),
        Metric("prune_on_drain_tps", f"drain rate while pruning {rows} rows", "tasks/s", HIGHER),
        Metric("prune_drain_ratio", "drain while pruning / without", "×", HIGHER, 0.8, digits=2),
        Metric("prune_on_rows_per_s_in_window", "tasks pruned per second", "rows/s", HIGHER),
        Metric("prune_total_seconds", f"time to prune {rows} tasks and their events", "s", LOWER),
    ]


def _value(results: Results, db: str, stack: str, key: str) -> float | None:
    value = results.get(db, {}).get(stack, {}).get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def _fmt(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def advantage(better: str, ours: float | None, theirs: float | None) -> float | None:
    """How many times better ours is: above 1 means ours wins, whichever way is better."""
    if ours is None or theirs is None or ours <= 0 or theirs <= 0:
        return None
    return ours / theirs if better == HIGHER else theirs / ours


def _target(metric: Metric, results: Results, db: str) -> tuple[str, list[bool | None]]:
    """The target's text, and one check per part (None: not measured in this run)."""
    ours = _value(results, db, "ours", metric.key)
    sign = "≥" if metric.better == HIGHER else "≤"
    parts, checks = [], []
    if metric.target is not None:
        limit = metric.target
        text = f"{sign} {metric.target:,g}"
        if metric.target_plus:
            plus = _value(results, db, "ours", metric.target_plus)
            limit = None if plus is None else metric.target + plus
            text += " + one commit" + ("" if limit is None else f" = {limit:,.1f}")
        parts.append(text)
        if ours is None or limit is None:
            checks.append(None)
        else:
            checks.append(ours >= limit if metric.better == HIGHER else ours <= limit)
    for stack, times in metric.vs:
        parts.append(f"≥ {times:g}× {STACK_LABELS[stack]}")
        ratio = advantage(metric.better, ours, _value(results, db, stack, metric.key))
        checks.append(None if ratio is None else ratio >= times)
    if metric.vs_sqlite is not None:
        sqlite = _value(results, "sqlite", "ours", metric.key)
        text = f"≥ {metric.vs_sqlite:.0%} of SQLite"
        if sqlite is not None:
            text += f" ({sqlite * metric.vs_sqlite:,.0f})"
        parts.append(text)
        checks.append(None if ours is None or sqlite is None else ours >= metric.vs_sqlite * sqlite)
    return "; ".join(parts), checks


def _met(checks: list[bool | None]) -> str:
    if not checks:
        return ""
    if any(check is False for check in checks):
        return "no"
    if any(check is None for check in checks):
        return "not measured"
    return "yes"


def stacks_of(results: Results, db: str) -> list[str]:
    """The stacks of ``db`` in table order: ours, the peers, physical."""
    present = results.get(db, {})
    order = [s for s in DEFAULT_STACKS.get(db, ()) if s in present]
    return order + [s for s in present if s not in order]


def table(
    results: Results, sizes: Sizes, db: str = "sqlite", disturbed: Disturbed = frozenset()
) -> list[list[str]]:
    stacks = stacks_of(results, db)
    others = [s for s in stacks if s != "ours"]
    header = [
        "what",
        "unit",
        *(STACK_LABELS.get(s, s) for s in stacks),
        *(f"ours vs {STACK_LABELS.get(s, s)}" for s in others),
        "target (ours)",
        "met",
    ]
    rows = [header]
    for metric in metrics(sizes, db):
        values = {s: _value(results, db, s, metric.key) for s in stacks}
        if all(value is None for value in values.values()):
            continue
        cells = [
            _fmt(values[s], metric.digits) + (DISTURBED if (db, s, metric.key) in disturbed else "")
            for s in stacks
        ]
        ratios = [advantage(metric.better, values.get("ours"), values[s]) for s in others]
        target_text, checks = _target(metric, results, db)
        rows.append(
            [
                metric.label,
                metric.unit,
                *cells,
                *("—" if r is None else f"{r:.2f}×" for r in ratios),
                target_text,
                _met(checks),
            ]
        )
    return rows


def cost_table(results: Results, db: str, disturbed: Disturbed = frozenset()) -> list[list[str]]:
    """CPU µs per task, user + system: the stack's own processes, and its database backends."""
    stacks = stacks_of(results, db)
    rows = [["what", *(STACK_LABELS.get(s, s) for s in stacks)]]
    groups = [("cpu", "processes")]
    if db == "postgresql":
        groups.append(("db_cpu", "PostgreSQL backends"))
    for scenario in COST_SCENARIOS:
        for group, label in groups:
            user_key, sys_key = f"{scenario}_{group}_user_us", f"{scenario}_{group}_sys_us"
            cells = []
            for s in stacks:
                user = _value(results, db, s, user_key)
                system = _value(results, db, s, sys_key)
                mark = DISTURBED if (db, s, user_key) in disturbed else ""
                cells.append("—" if user is None else f"{user:,.0f} + {system or 0:,.0f}{mark}")
            if any(cell != "—" for cell in cells):
                rows.append([f"{scenario}: {label}", *cells])
    return rows if len(rows) > 1 else []


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


def details(runs: Runs, db: str) -> str:
    """Every number each stack produced on ``db`` (errors, losses, generator lag, CPU),
    every round of it."""
    flat: dict[str, dict[str, list[float]]] = {}
    for stack, by_scenario in runs.get(db, {}).items():
        for rounds in by_scenario.values():
            for r in rounds:
                for key, value in r.items():
                    flat.setdefault(stack, {}).setdefault(key, []).append(value)
    if not flat:
        return ""
    keys = sorted({key for values in flat.values() for key in values})
    order = [s for s in DEFAULT_STACKS.get(db, ()) if s in flat]
    stacks = order + [s for s in flat if s not in order]
    rows = [["metric", *stacks]]
    for key in keys:
        cells = [
            " / ".join(_number(v) for v in flat[stack].get(key, [])) or "—" for stack in stacks
        ]
        rows.append([key, *cells])
    return markdown(rows)
