"""The leader lease: at most one node of a cluster runs the singleton upkeep."""

from __future__ import annotations

import logging

import models

from ..config import LEADER_LEASE_SECONDS
from ..log import log_event
from .service import Leadership, MaintenanceService


class LeaderElector(MaintenanceService):
    """Every ``interval_seconds``, takes or keeps the cluster's leadership for ``holder``.

    The store decides who leads (an advisory lock held by this actor's
    connection on PostgreSQL, a lease row on SQLite), so at most one node
    leads at a time. ``leadership`` tells the services marked
    ``leader_only`` whether to do their rounds. When this node cannot reach
    the database it stops claiming the leadership at once: another node may
    take it over. Stopping resigns. ``tick`` returns whether this node leads.
    """

    name = "leader election"

    def __init__(
        self,
        store: models.Store,
        interval_seconds: float,
        holder: str,
        leadership: Leadership,
        lease_seconds: float = LEADER_LEASE_SECONDS,
    ) -> None:
        super().__init__(store, interval_seconds, leadership)
        self._holder = holder
        self._lease_seconds = lease_seconds

    def tick(self, now: float) -> bool:
        try:
            leading = self.store.try_lead(self._holder, now, self._lease_seconds)
        except models.StorageError:
            self._set(False)
            raise
        self._set(leading)
        return leading

    def _set(self, leading: bool) -> None:
        if leading != self.leadership.is_leader:
            log_event(
                "leadership acquired" if leading else "leadership lost",
                logging.INFO if leading else logging.WARNING,
                holder=self._holder,
            )
        self.leadership.set(leading)

    def on_stop(self) -> None:
        """Runs in the elector's thread when it is stopped: resigns, then closes the connection."""
        if self.leadership.is_leader:
            try:
                self.store.resign(self._holder)
            except (
                models.StorageError
            ) as exc:  # the lease expires, or the lock goes with the connection
                log_event("resign failed", logging.WARNING, error=repr(exc))
            self.leadership.set(False)
        super().on_stop()
