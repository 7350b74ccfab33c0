"""The delivery log of a task's completion webhooks."""

from __future__ import annotations

import models

from .errors import handles_errors
from .responses import json_body
from .router import Query


class DeliveriesResource:
    def __init__(self, store: models.Store) -> None:
        self.store = store

    @handles_errors
    def list(self, query: Query, task_id: str) -> bytes:
        """Each delivery of the task (one per time it ended), with every try: its time,
        HTTP status, latency and error."""
        return json_body({"deliveries": self.store.deliveries_of(task_id)})
