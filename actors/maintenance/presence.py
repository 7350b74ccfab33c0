"""Presence: each node keeps its row in ``nodes`` fresh; the leader clears long-lost ones."""

from __future__ import annotations

from collections.abc import Callable

import models

from .service import Leadership, MaintenanceService

LOST_FOR_GOOD_SECONDS = 86_400.0  # a node lost for a day is removed from the list


class Presence(MaintenanceService):
    """Every ``interval_seconds`` (a third of the lease): writes what this node is and
    does (see ``models.NodeInfo``), as read from ``describe()``. On the leader, also
    removes the rows of nodes unseen for a day. On stop, removes its own row: a node
    that stopped cleanly is not lost. ``tick`` returns how many rows it removed."""

    name = "presence"

    def __init__(
        self,
        store: models.Store,
        interval_seconds: float,
        describe: Callable[[], models.NodeInfo],
        leadership: Leadership,
    ) -> None:
        super().__init__(store, interval_seconds, leadership)
        self._describe = describe

    def tick(self, now: float) -> int:
        info = self._describe()
        self.store.record_node(info, now)
        if self.leadership.is_leader:
            return self.store.prune_nodes(now, LOST_FOR_GOOD_SECONDS)
        return 0

    def on_stop(self) -> None:
        """Runs in the presence's thread when it is stopped: the node leaves the list."""
        try:
            self.store.forget_node(self._describe().owner)
        except models.StorageError:  # it shows as lost after three leases instead
            pass
        super().on_stop()
