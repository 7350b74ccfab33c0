"""The pruner: deletes finished tasks once their retention has passed."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping

import models

from ..log import log_event
from ..messages import Tick
from .service import Leadership, MaintenanceService

PRUNE_INTERVAL_SECONDS = 10.0  # how often the leader looks for expired tasks
PRUNE_ROUND_SECONDS = 1.0  # work per message; more expired rows continue in the next one
TARGET_BATCH_SECONDS = 0.02  # a batch's transaction is kept about this short
MIN_BATCH_ROWS = 50
# After each batch the pruner waits this many times as long as the batch took: it holds
# the database at most a quarter of the time (at a half, the drain fell to 0.58 of its
# rate while a million rows went; see bench/prune.py).
PAUSE_FACTOR = 3.0


class Pruner(MaintenanceService):
    """Every ``interval_seconds``, on the leader: deletes ``completed``, ``dead`` and
    ``canceled`` tasks that finished longer ago than their status's retention (0:
    kept forever), with their events and delivery logs, never a task whose webhook
    is still pending (see ``Store.prune_batch``).

    Each batch is one short transaction, sized to take about
    ``TARGET_BATCH_SECONDS`` (halved when slower, doubled when much faster), and
    after each the pruner waits ``PAUSE_FACTOR`` times as long as the batch took,
    so that writers (the intake's POSTs, the workers' outcomes) get the database
    at least three quarters of the time. A round works at most
    ``PRUNE_ROUND_SECONDS``, then, if expired rows remain, tells itself to go on:
    a stop in between is handled first.
    ``tick`` returns how many tasks it deleted, by status.
    """

    name = "prune"
    leader_only = True

    def __init__(
        self,
        store: models.Store,
        interval_seconds: float,
        retention_seconds: Mapping[models.Status, float],
        leadership: Leadership | None = None,
        batch_rows: int = models.PRUNE_BATCH_ROWS,
    ) -> None:
        super().__init__(store, interval_seconds, leadership)
        self._retention = {s: r for s, r in retention_seconds.items() if r > 0}
        self._batch_rows = batch_rows
        self._pause = threading.Event()  # never set: waits between batches read as waits

    def tick(self, now: float) -> dict[str, int]:
        deadline = time.monotonic() + PRUNE_ROUND_SECONDS
        deleted: dict[str, int] = {}
        more = False
        for status, retention in self._retention.items():
            while True:
                limit = self._batch_rows
                started = time.monotonic()
                count = self.store.prune_batch(status, now - retention, limit)
                took = time.monotonic() - started
                deleted[str(status)] = deleted.get(str(status), 0) + count
                if count < limit:
                    break  # nothing more has expired (or is free to delete now)
                self._resize(took)
                self._pause.wait(took * PAUSE_FACTOR)
                if time.monotonic() >= deadline:
                    more = True
                    break
            if more:
                break
        if any(deleted.values()):
            log_event("tasks pruned", logging.INFO, **deleted)
        if more:
            self.actor_ref.tell(Tick(now))
        return deleted

    def _resize(self, took: float) -> None:
        """After a full batch (a short one says nothing of what a full one costs)."""
        if took > TARGET_BATCH_SECONDS:
            self._batch_rows = max(MIN_BATCH_ROWS, self._batch_rows // 2)
        elif took < TARGET_BATCH_SECONDS / 4:
            self._batch_rows = min(models.MAX_PRUNE_BATCH_ROWS, self._batch_rows * 2)
