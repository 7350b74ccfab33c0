"""What the actor system counts for Prometheus (prometheus-client's default registry).

Counters and histograms are per process (a node): Prometheus tells nodes
apart by the target it scraped. Labels are the queue and the action; an
action no module registered is counted as ``unregistered`` (the catch-all
runs it), so that a client cannot make up label values without bound.
Gauges read from the database (tasks by queue and status, the oldest due
task's age) come from a snapshot the ``Sampler`` refreshes every few
seconds, so a scrape never counts rows itself.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import REGISTRY, Histogram, disable_created_metrics
from prometheus_client import Counter as PromCounter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

import models

from .actions import ActionRegistry

disable_created_metrics()  # a *_created sample per series says nothing a scraper needs here

UNREGISTERED = "unregistered"
# Seconds: from a millisecond task to an hour-long one, and a wait from instant to an hour.
DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600)
WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600)

ENQUEUED = PromCounter(
    "taskqueue_tasks_enqueued",
    "Tasks accepted (committed) by this node",
    ["queue", "action"],
)
FINISHED = PromCounter(
    "taskqueue_tasks_finished",
    "Attempts settled by this node, by outcome: completed, failed (to be retried), dead, "
    "canceled or timed_out",
    ["queue", "action", "outcome"],
)
DURATION = Histogram(
    "taskqueue_task_duration_seconds",
    "How long one attempt ran, on this node",
    ["queue", "action"],
    buckets=DURATION_BUCKETS,
)
QUEUE_WAIT = Histogram(
    "taskqueue_task_queue_wait_seconds",
    "From the time a task was due to the start of its attempt, on this node",
    ["queue"],
    buckets=WAIT_BUCKETS,
)

TIMED_OUT_PREFIX = "timed out after "


class _Counting:
    """Whether tasks and requests are counted at all: off only to measure what
    counting costs (``run.py --measure-without metrics``)."""

    on = True


COUNTING = _Counting()


def action_label(registry: ActionRegistry, action: str) -> str:
    return action if registry.lookup(action) is not None else UNREGISTERED


def count_enqueued(registry: ActionRegistry, rows: Iterable[dict]) -> None:
    """Count accepted rows, one increment per (queue, action) of the batch."""
    if not COUNTING.on:
        return
    counts = Counter((row["queue"], action_label(registry, row["action"])) for row in rows)
    for (queue, action), count in counts.items():
        ENQUEUED.labels(queue, action).inc(count)


def observe_settled(
    registry: ActionRegistry,
    outcomes: Sequence[models.Outcome],
    statuses: Mapping[str, models.Status],
) -> None:
    """Count and time the outcomes a commit settled (those whose claim was lost are not)."""
    if not COUNTING.on:
        return
    finished: Counter = Counter()
    for outcome in outcomes:
        status = statuses.get(outcome.task.id)
        if status is None or outcome.ending == models.Ending.UNSTARTED:
            continue
        task = outcome.task
        action = action_label(registry, task.action)
        finished[(task.queue, action, _outcome(outcome, status))] += 1
        if outcome.started_at is not None and outcome.finished_at is not None:
            labelled(DURATION, task.queue, action).observe(outcome.finished_at - outcome.started_at)
        if outcome.started_at is not None and task.due_at is not None:
            labelled(QUEUE_WAIT, task.queue).observe(max(0.0, outcome.started_at - task.due_at))
    for (queue, action, result), count in finished.items():
        labelled(FINISHED, queue, action, result).inc(count)


_labelled: dict[tuple, Any] = {}


def labelled(metric: Any, *labels: str) -> Any:
    """``metric.labels(*labels)``, remembered: the dispatcher's hot path asks for the same
    few series once per task (the HTTP side once per request), and ``labels`` checks and
    locks at every call. Only for label values from a bounded set."""
    key = (id(metric), *labels)
    child = _labelled.get(key)
    if child is None:
        child = _labelled[key] = metric.labels(*labels)
    return child


def _outcome(outcome: models.Outcome, status: models.Status) -> str:
    if status == models.Status.COMPLETED:
        return "completed"
    if outcome.failure is not None and outcome.failure.error.startswith(TIMED_OUT_PREFIX):
        return "timed_out"
    if status in (models.Status.DEAD, models.Status.CANCELED):
        return str(status)
    return "failed"


@dataclass
class Snapshot:
    """What the sampler last read from the database, and when."""

    tasks: dict[str, dict[models.Status, int]] = field(default_factory=dict)
    oldest_due_age: dict[str, float | None] = field(default_factory=dict)
    taken_at: float | None = None


class SystemCollector(Collector):
    """The gauges: tasks by queue and status and the oldest due age (from the last
    snapshot), workers busy and idle, abandoned threads (read at scrape time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshot = Snapshot()
        self._workers: Callable[[], tuple[int, int]] = lambda: (0, 0)
        self._abandoned: Callable[[], int] = lambda: 0

    def attach(self, workers: Callable[[], tuple[int, int]], abandoned: Callable[[], int]) -> None:
        """The supervisor of this process says where busy/idle and abandoned come from."""
        self._workers, self._abandoned = workers, abandoned

    def update(self, snapshot: Snapshot) -> None:
        with self._lock:
            self._snapshot = snapshot

    def collect(self):
        with self._lock:
            snapshot = self._snapshot
        tasks = GaugeMetricFamily(
            "taskqueue_tasks",
            "Tasks in the database by queue and status (sampled every few seconds)",
            labels=["queue", "status"],
        )
        for queue, by_status in sorted(snapshot.tasks.items()):
            for status, count in by_status.items():
                tasks.add_metric([queue, str(status)], count)
        yield tasks
        oldest = GaugeMetricFamily(
            "taskqueue_oldest_due_task_age_seconds",
            "How long the longest-waiting due task of each queue has been due",
            labels=["queue"],
        )
        for queue, age in sorted(snapshot.oldest_due_age.items()):
            oldest.add_metric([queue], 0.0 if age is None else age)
        yield oldest
        busy, idle = self._workers()
        workers = GaugeMetricFamily(
            "taskqueue_workers", "Worker actors of this node", labels=["state"]
        )
        workers.add_metric(["busy"], busy)
        workers.add_metric(["idle"], idle)
        yield workers
        yield GaugeMetricFamily(
            "taskqueue_abandoned_threads",
            "Threads of workers abandoned after a timeout, still running their action",
            value=self._abandoned(),
        )


SYSTEM = SystemCollector()
REGISTRY.register(SYSTEM)
