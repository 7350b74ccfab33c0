"""The scheduler: periodic schedules become tasks, one per tick, on the leader."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import pykka

import models

from ..config import QueueConfig
from ..log import log_event
from ..messages import Wake
from .service import Leadership, MaintenanceService

SCHEDULER_INTERVAL_SECONDS = 1.0  # a tick's task is made within about this of its time


@dataclass(frozen=True)
class Fired:
    """What a round did with one due schedule: ``task_id`` None when nothing was made
    (its missed ticks were skipped, or another leader had fired it)."""

    name: str
    fire_at: float | None
    task_id: str | None


class Scheduler(MaintenanceService):
    """Every ``interval_seconds``, on the leader: each enabled schedule whose next tick
    has come makes its task (keyed ``schedule:{name}:{fire time}``) and moves on to
    the tick after now, in one transaction (see ``Store.fire_schedule``).

    When ticks were missed (no node was up), only the latest runs, and only
    with ``catch_up: one``. The tasks get the defaults (``max_attempts``,
    ``timeout``) of this node, as a POST to it would. At start, on every
    node, the schedules that actions declare (``@action(cron=…)``) are made
    if missing. ``tick`` returns what it did with each due schedule.
    """

    name = "schedule"
    leader_only = True

    def __init__(
        self,
        store: models.Store,
        interval_seconds: float,
        config: QueueConfig,
        declared: Sequence[models.ScheduleSpec] = (),
        dispatcher: pykka.ActorRef | None = None,
        leadership: Leadership | None = None,
    ) -> None:
        super().__init__(store, interval_seconds, leadership)
        self._config = config
        self._declared = list(declared)
        self._dispatcher = dispatcher

    def on_start(self) -> None:
        """Runs in the scheduler's thread when it starts: declares the actions' schedules.
        A database that is away only delays this to the next start, with a warning."""
        if not self._declared:
            return
        try:
            created = self.store.declare_schedules(self._declared, time.time())
        except models.StorageError as exc:
            self.store.discard_connection()
            log_event("schedules not declared", logging.WARNING, error=repr(exc))
            return
        for name in created:
            log_event("schedule declared", name=name)

    def tick(self, now: float) -> list[Fired]:
        # Ticks are due by the clock that decides every due time (the database's, on
        # PostgreSQL): a leader whose clock is off fires each on time all the same.
        now = self.store.database_now(now)
        fired = []
        for schedule in self.store.due_schedules(now):
            try:
                fired.append(self._fire(schedule, now))
            except models.InvalidInput as exc:  # a time zone this machine lacks, say
                log_event(
                    "schedule not fired", logging.WARNING, name=schedule["name"], error=str(exc)
                )
        if any(f.task_id for f in fired) and self._dispatcher is not None:
            try:
                self._dispatcher.tell(Wake(now))
            except pykka.ActorDeadError:
                pass  # stopping: the tasks are stored and run at the next start
        return fired

    def _fire(self, schedule: dict, now: float) -> Fired:
        name = schedule["name"]
        cron = models.Cron(schedule["cron"], schedule["timezone"])
        due_at = schedule["next_fire_at"]
        fire_at, next_fire_at = models.plan_firing(cron, due_at, now, schedule["catch_up"])
        row = None
        if fire_at is not None:
            row = models.schedule_task_row(
                schedule["task"],
                self._config.max_attempts,
                self._config.default_timeout_seconds,
                models.schedule_key(name, fire_at),
            )
        firing = models.Firing(name, due_at, fire_at, next_fire_at)
        task_id = self.store.fire_schedule(firing, row, now)
        if fire_at is None:
            log_event("schedule skipped missed ticks", name=name, next_fire_at=next_fire_at)
        elif task_id is not None:
            late = round(now - fire_at, 3)
            log_event("schedule fired", name=name, task_id=task_id, late_seconds=late)
        return Fired(name, fire_at, task_id)
