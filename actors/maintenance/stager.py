"""The stager: delayed tasks become due."""

from __future__ import annotations

import logging

import pykka

import models

from ..log import log_event
from ..messages import Wake
from .service import MaintenanceService


class Stager(MaintenanceService):
    """Every ``poll_interval``: ``scheduled`` tasks whose time has come become ``queued``,
    and the dispatcher is woken to claim them (as Oban's Stager).

    A delayed task so starts within ``poll_interval`` of its ``run_at``. It
    runs on every node, so delayed tasks become due whichever nodes are up;
    the change is one statement per batch, and two nodes staging at once
    move each task once. ``tick`` returns how many it staged.
    """

    name = "stage"

    def __init__(
        self, store: models.Store, interval_seconds: float, dispatcher: pykka.ActorRef | None
    ) -> None:
        super().__init__(store, interval_seconds)
        self._dispatcher = dispatcher

    def tick(self, now: float) -> int:
        staged = self.store.stage(now)
        if staged:
            log_event("tasks due", logging.DEBUG, staged=staged)
            if self._dispatcher is not None:
                try:
                    self._dispatcher.tell(Wake(now))
                except pykka.ActorDeadError:
                    pass  # stopping: they are due at the next start
        return staged
