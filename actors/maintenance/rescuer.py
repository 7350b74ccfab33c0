"""The rescuer: takes back tasks whose process died or whose lease expired."""

from __future__ import annotations

import logging
import os
import socket

import pykka

import models

from ..finished import FinishedBoard
from ..log import log_event
from ..messages import Wake
from .service import MaintenanceService


def dead_local_owners(owners: list[str], me: str) -> list[str]:
    """The ``host:pid`` owners on this host whose process no longer exists.

    Their tasks can be taken back at once instead of after the lease: this is
    what makes a restart after kill -9 pick up its interrupted tasks
    immediately. Owners on other hosts are left to their lease.
    """
    host = socket.gethostname()
    dead = []
    for owner in owners:
        owner_host, _, pid_text = owner.rpartition(":")
        if owner == me or owner_host != host or not pid_text.isdigit():
            continue
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            dead.append(owner)
        except PermissionError:
            pass  # alive, under another user
    return dead


class Rescuer(MaintenanceService):
    """Every ``rescue_interval``: running tasks of dead local processes and expired
    leases go back to the queue (or to ``dead``, when that was their last attempt).

    It runs on every node, not only the leader: only a node on the same host
    can see that a local process is gone. The rescue is one atomic
    statement, so two nodes rescuing at once take each task back once.
    When it took tasks back, it wakes the dispatcher. ``tick`` returns the
    rescued tasks.
    """

    name = "rescue"

    def __init__(
        self,
        store: models.Store,
        interval_seconds: float,
        owner: str,
        max_attempts: int,
        dispatcher: pykka.ActorRef | None = None,
        board: FinishedBoard | None = None,
    ) -> None:
        super().__init__(store, interval_seconds)
        self._owner = owner
        self._max_attempts = max_attempts
        self._dispatcher = dispatcher
        self._board = board

    def tick(self, now: float) -> list[models.Rescued]:
        dead = dead_local_owners(self.store.lease_owners(), self._owner)
        rescued = self.store.rescue(now, self._max_attempts, dead)
        for task in rescued:
            log_event("task rescued", logging.WARNING, task_id=task.id, status=task.status)
        if self._board is not None:
            self._board.publish(t.id for t in rescued if t.status in models.FINISHED)
        if rescued and self._dispatcher is not None:
            try:
                self._dispatcher.tell(Wake(now))
            except pykka.ActorDeadError:
                pass  # stopping: the tasks are due at the next start
        return rescued
