"""The base of the upkeep actors: one round of work per tick, at its own interval."""

from __future__ import annotations

import logging
import threading

import pykka

import models

from ..log import log_event
from ..messages import Tick


class Leadership:
    """Whether this node leads the cluster now; set by the ``LeaderElector``, read by anyone."""

    def __init__(self) -> None:
        self._leading = threading.Event()

    @property
    def is_leader(self) -> bool:
        return self._leading.is_set()

    def set(self, leading: bool) -> None:
        if leading:
            self._leading.set()
        else:
            self._leading.clear()


class MaintenanceService(pykka.ThreadingActor):
    """One kind of periodic upkeep, as River's ``internal/maintenance`` services.

    Thread: its own. The ticker sends ``Tick(now)`` every
    ``interval_seconds``; a test sends its own ``now`` and asks, and gets
    back what ``tick`` returned. A service with ``leader_only`` does its
    round only while this node leads, so that a cluster does it once. A
    database error in a round is logged and the round is tried again at the
    next tick: upkeep never dies of a database that is away. Its connection
    is closed when it stops.
    """

    name = "maintenance"
    leader_only = False

    def __init__(
        self,
        store: models.Store,
        interval_seconds: float,
        leadership: Leadership | None = None,
    ) -> None:
        super().__init__()
        self.store = store
        self.interval_seconds = interval_seconds
        self.leadership = leadership or Leadership()

    def on_receive(self, message: object) -> object:
        """Runs in the service's thread, one message at a time."""
        if not isinstance(message, Tick):
            return None
        if self.leader_only and not self.leadership.is_leader:
            return None
        try:
            return self.tick(message.now)
        except models.StorageError as exc:
            self.store.discard_connection()
            log_event(f"{self.name} failed", logging.WARNING, error=repr(exc))
            return None

    def tick(self, now: float) -> object:
        """One round of upkeep as of ``now``."""
        raise NotImplementedError

    def on_stop(self) -> None:
        """Runs in the service's thread when it is stopped: closes its connection."""
        self.store.close()
