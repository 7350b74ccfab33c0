"""A task's history and its diagnosis ("why isn't it running?"); the nodes; counts by minute."""

from __future__ import annotations

import actors
import models
from models import clock

from .errors import handles_errors
from .responses import json_body
from .router import Query

LOST_AFTER_LEASES = 3  # a node unseen for three lease periods shows as lost
STATS_WINDOW_SECONDS = 3600


class HistoryResource:
    def __init__(self, store: models.Store, queue_config: actors.QueueConfig) -> None:
        self.store = store
        self._config = queue_config

    @property
    def _lost_after(self) -> float:
        return LOST_AFTER_LEASES * self._config.lease_seconds

    @handles_errors
    def events(self, query: Query, task_id: str) -> bytes:
        return json_body({"events": self.store.events_of(task_id)})

    @handles_errors
    def diagnosis(self, query: Query, task_id: str) -> bytes:
        found = models.diagnose(self.store, task_id, self._config.lease_seconds, self._lost_after)
        return json_body(found.as_dict())

    @handles_errors
    def nodes(self, query: Query) -> bytes:
        return json_body({"nodes": self.store.nodes(clock.now(), self._lost_after)})

    @handles_errors
    def dead_letters(self, query: Query) -> bytes:
        """The latest dead tasks grouped by action and error; a group is retried with
        POST /tasks/retry {"filter": {"status": "dead", "action", "error"}}."""
        return json_body(self.store.dead_letters())

    @handles_errors
    def stats(self, query: Query) -> bytes:
        """Counts by minute over the last hour, every node together: for the charts."""
        since = clock.now() - STATS_WINDOW_SECONDS
        return json_body({"minutes": self.store.minute_counts(since)})
