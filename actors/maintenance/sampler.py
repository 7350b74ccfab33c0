"""The sampler: reads what the gauges show from the database every few seconds."""

from __future__ import annotations

from .. import metrics
from .service import MaintenanceService

SAMPLE_INTERVAL_SECONDS = 5.0  # a gauge read from the database is at most this old


class Sampler(MaintenanceService):
    """Every ``interval_seconds``: tasks by queue and status, and each queue's oldest due
    task, into the metrics snapshot. The counts read indexes and the counts kept of
    finished tasks, never the table; a scrape then reads only the snapshot. ``tick``
    returns the snapshot."""

    name = "sample"

    def tick(self, now: float) -> metrics.Snapshot:
        tasks = self.store.counts_by_queue()
        oldest = {queue: self.store.oldest_due_age(queue, now) for queue in tasks}
        snapshot = metrics.Snapshot(tasks, oldest, now)
        metrics.SYSTEM.update(snapshot)
        return snapshot
