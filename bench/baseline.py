"""``--baseline FILE``: this run's figures against a saved results JSON, figure by figure.

The ratio is how many times better this run is, whichever way is better for
that figure (throughput up, latency, memory and CPU down): above 1× is an
improvement. Figures without a direction (counts, other load) are left out.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench import report
from bench.scenarios import DATABASES, FULL

_HIGHER_SUFFIXES = ("_tps", "_rps")
_LOWER_SUFFIXES = ("_ms", "_mb", "_us", "_errors", "_lost", "_seconds", "_bytes_per_task")
RATIO_NOTEWORTHY = 0.05  # a change smaller than 5 % is reported as "same"


def load(path: Path) -> report.Results:
    """The ``results`` of a saved run, in the per-storage shape (older files were SQLite only)."""
    raw = json.loads(path.read_text())
    results = raw.get("results", raw)
    if results and not set(results) <= set(DATABASES):
        results = {"sqlite": results}
    return results


def direction(key: str) -> str | None:
    for db in DATABASES:
        for metric in report.metrics(FULL, db):
            if metric.key == key:
                return metric.better
    if key.endswith("_other_load_cores"):
        return None
    if key.endswith(_HIGHER_SUFFIXES):
        return report.HIGHER
    if key.endswith(_LOWER_SUFFIXES):
        return report.LOWER
    return None


def compare(now: report.Results, before: report.Results) -> list[list[str]]:
    rows = [["storage", "stack", "figure", "baseline", "now", "now vs baseline", ""]]
    for db, by_stack in now.items():
        for stack, values in by_stack.items():
            for key in sorted(values):
                better = direction(key)
                old = before.get(db, {}).get(stack, {}).get(key)
                new = values[key]
                if better is None or old is None:
                    continue
                ratio = report.advantage(better, new, old)
                if ratio is None:
                    verdict, text = "", "—"
                else:
                    text = f"{ratio:.2f}×"
                    if abs(ratio - 1) < RATIO_NOTEWORTHY:
                        verdict = "same"
                    else:
                        verdict = "better" if ratio > 1 else "worse"
                rows.append(
                    [
                        report.DB_LABELS.get(db, db),
                        stack,
                        key,
                        f"{old:,.2f}",
                        f"{new:,.2f}",
                        text,
                        verdict,
                    ]
                )
    return rows
