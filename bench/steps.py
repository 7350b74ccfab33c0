"""Where our end-to-end latency goes: each measured task's steps, from its own history.

The service records when each attempt was claimed, started and completed
(``task_events``), and a task's id carries the millisecond it was made
(UUIDv7). With when each POST was due and when the watcher saw its
completion committed, one end-to-end latency splits into:

- ``accept``: POST due → id made (connection, HTTP, the handler up to the row);
- ``claim``: id made → claimed (the intake's commit, or a dispatcher's claim);
- ``start``: claimed → started (the commit, then the hand-over to a worker);
- ``run``: started → completed (the action itself);
- ``settle``: completed → seen committed (the dispatcher's commit, the watcher's look).

The id's time is in whole milliseconds, so ``accept`` and ``claim`` are each
good to about 1 ms. The service's wall clock and the benchmark's monotonic
clock are tied together once, in this process (one machine, one clock).
"""

from __future__ import annotations

import collections
import time

from bench.observe import Reader, Target
from bench.stats import percentile
from models.ids import created_at_of

STEPS = ("accept", "claim", "start", "run", "settle")
EVENTS_SQL = (
    "SELECT task_id, kind, at FROM task_events "
    "WHERE kind IN ('claimed', 'started', 'completed') AND task_id IN ({marks}) ORDER BY id"
)


def split(where: Target, due: dict[str, float], seen: dict[str, float], prefix: str) -> dict:
    """p50 and p99 in ms of each step, over the tasks in ``seen``; ``due`` and ``seen``
    are monotonic times by task id (when the POST was due, when the completion was seen)."""
    wall_minus_monotonic = time.time() - time.monotonic()
    events: dict[str, dict[str, float]] = collections.defaultdict(dict)
    reader = Reader(where)
    try:
        for task_id, kind, at in reader.rows_of(EVENTS_SQL, list(seen)):
            events[str(task_id)].setdefault(kind, at)  # the first attempt's
    finally:
        reader.close()
    steps: dict[str, list[float]] = {step: [] for step in STEPS}
    for task_id, seen_at in seen.items():
        made = created_at_of(task_id)
        got = events.get(task_id, {})
        if made is None or len(got) < 3:
            continue
        times = (
            due[task_id] + wall_minus_monotonic,
            made,
            got["claimed"],
            got["started"],
            got["completed"],
            seen_at + wall_minus_monotonic,
        )
        for step, begin, end in zip(STEPS, times[:-1], times[1:], strict=True):
            steps[step].append((end - begin) * 1000)
    values: dict[str, float] = {}
    for step, spans in steps.items():
        spans.sort()
        values[f"{prefix}_step_{step}_p50_ms"] = percentile(spans, 50)
        values[f"{prefix}_step_{step}_p99_ms"] = percentile(spans, 99)
    return values
