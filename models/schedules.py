"""Periodic schedules: stored in the database, so every node sees the same ones, and
fired by the leader's scheduler, one task per tick. Part of ``Store``.

Firing a tick is one transaction: the schedule moves on from the tick it
was due at (a compare-and-set on ``next_fire_at``, so of two leaders that
both saw it due, one moves it and the other changes nothing) and its task
is inserted with the idempotency key ``schedule:{name}:{fire time}``, which
the unique index holds to one task per tick even if the schedule is
deleted and made again, or a stale leader acts on an old view.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from peewee import IntegrityError

from .cron import Cron, iso_utc
from .errors import TaskNotFound
from .task import TaskOptions, new_task

if TYPE_CHECKING:
    from .store import Store

CATCH_UP = ("one", "none")  # after a tick no node was up for: one run, or none
MISFIRE_GRACE_SECONDS = 60.0  # a tick fired later than this counts as missed
SOURCE_API, SOURCE_CODE = "api", "code"
_COLUMNS = (
    "name, cron, timezone, task, enabled, catch_up, source, next_fire_at, last_fire_at, "
    "last_task_id, created_at, updated_at"
)


@dataclass(frozen=True)
class ScheduleSpec:
    """A schedule as given (each field already checked): ``task`` is the template of the
    tasks it makes, with the fields of ``POST /tasks`` that a periodic task may have."""

    name: str
    cron: str
    timezone: str = "UTC"
    task: dict[str, Any] | None = None
    enabled: bool = True
    catch_up: str = "one"


@dataclass(frozen=True)
class Firing:
    """What a scheduler round decided for one due schedule."""

    name: str
    due_at: float  # the schedule's next_fire_at as read: the compare-and-set's expectation
    fire_at: float | None  # the tick to run now; None: its missed ticks are skipped
    next_fire_at: float


def plan(cron: Cron, due_at: float, now: float, catch_up: str) -> tuple[float | None, float]:
    """For a schedule due at ``due_at`` (at or before ``now``): which tick to run, and when
    it is due next. Of every tick owed since ``due_at``, only the latest runs; when even
    that one is older than ``MISFIRE_GRACE_SECONDS`` (no node was up at its time), it runs
    only with ``catch_up`` ``one``."""
    latest = cron.latest_between(due_at, now)
    missed = now - latest > MISFIRE_GRACE_SECONDS
    fire_at = None if missed and catch_up == "none" else latest
    return fire_at, cron.next_after(max(now, latest))


def idempotency_key(name: str, fire_at: float) -> str:
    return f"schedule:{name}:{iso_utc(fire_at)}"


def task_row(
    template: dict[str, Any],
    default_max_attempts: int,
    default_timeout_seconds: float | None,
    key: str | None = None,
    now_ns: int | None = None,
) -> dict[str, Any]:
    """The row of one task a schedule makes from its ``task`` template (the defaults are
    those of the node that makes it, as for a POST)."""
    timeout = template.get("timeout")
    notify = template.get("notify")
    options = TaskOptions(
        max_attempts=template.get("max_attempts", default_max_attempts),
        timeout_seconds=default_timeout_seconds if timeout is None else (timeout or None),
        priority=template.get("priority", 0),
        queue=template.get("queue", "default"),
        idempotency_key=key,
        request_hash=None if key is None else _template_hash(template),
        notify_url=None if notify is None else notify["url"],
    )
    return new_task(template["action"], template.get("data") or {}, options, now_ns)


def _template_hash(template: dict[str, Any]) -> str:
    asked = orjson.dumps(template, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(b"schedule:" + asked).hexdigest()


def _view(row: tuple) -> dict[str, Any]:
    (name, cron, timezone, task, enabled, catch_up, source, next_fire_at, last_fire_at) = row[:9]
    return {
        "name": name,
        "cron": cron,
        "timezone": timezone,
        "task": orjson.loads(task),
        "enabled": bool(enabled),
        "catch_up": catch_up,
        "source": source,
        "next_fire_at": next_fire_at,
        "last_fire_at": last_fire_at,
        "last_task_id": row[9],
        "created_at": row[10],
        "updated_at": row[11],
    }


class SchedulesMixin:
    def put_schedule(
        self: Store, spec: ScheduleSpec, now: float, source: str = SOURCE_API
    ) -> tuple[dict[str, Any], bool]:
        """Create or replace the schedule ``spec.name``; return its view and whether it is new.

        A replaced schedule keeps its history (last fire, last task) and, if it
        was enabled and its cron and time zone are the same, its next tick; any
        other change counts its next tick from ``now``.
        """
        p = self.db.param
        next_fire_at = Cron(spec.cron, spec.timezone).next_after(now) if spec.enabled else None
        task = orjson.dumps(spec.task or {}).decode()
        with self.write_transaction():
            cursor = self.db.execute_sql(
                f"SELECT cron, timezone, enabled, next_fire_at FROM schedules "
                f"WHERE name = {p}{self.row_lock_clause}",
                (spec.name,),
            )
            old = cursor.fetchone()
            if old is None:
                self.db.execute_sql(
                    f"INSERT INTO schedules ({_COLUMNS}) VALUES "
                    f"({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, NULL, NULL, {p}, {p})",
                    (
                        spec.name,
                        spec.cron,
                        spec.timezone,
                        task,
                        int(spec.enabled),
                        spec.catch_up,
                        source,
                        next_fire_at,
                        now,
                        now,
                    ),
                )
            else:
                same = (old[0], old[1]) == (spec.cron, spec.timezone) and old[2] and spec.enabled
                if same and old[3] is not None:
                    next_fire_at = old[3]
                self.db.execute_sql(
                    f"UPDATE schedules SET cron = {p}, timezone = {p}, task = {p}, enabled = {p}, "
                    f"catch_up = {p}, source = {p}, next_fire_at = {p}, updated_at = {p} "
                    f"WHERE name = {p}",
                    (
                        spec.cron,
                        spec.timezone,
                        task,
                        int(spec.enabled),
                        spec.catch_up,
                        source,
                        next_fire_at,
                        now,
                        spec.name,
                    ),
                )
        return self.get_schedule(spec.name), old is None

    def declare_schedules(self: Store, specs: list[ScheduleSpec], now: float) -> list[str]:
        """Create each schedule declared in code that is missing (one that exists, as
        changed or deleted through the API, is left alone); return the names created."""
        created = []
        for spec in specs:
            p = self.db.param
            next_fire_at = Cron(spec.cron, spec.timezone).next_after(now)
            with self.write_transaction():
                changed = self.db.execute_sql(
                    f"INSERT INTO schedules ({_COLUMNS}) VALUES "
                    f"({p}, {p}, {p}, {p}, 1, {p}, '{SOURCE_CODE}', {p}, NULL, NULL, {p}, {p}) "
                    f"ON CONFLICT (name) DO NOTHING",
                    (
                        spec.name,
                        spec.cron,
                        spec.timezone,
                        orjson.dumps(spec.task or {"action": spec.name}).decode(),
                        spec.catch_up,
                        next_fire_at,
                        now,
                        now,
                    ),
                ).rowcount
            if changed:
                created.append(spec.name)
        return created

    def get_schedule(self: Store, name: str) -> dict[str, Any]:
        """One schedule's view; raises ``TaskNotFound``."""
        cursor = self.db.execute_sql(
            f"SELECT {_COLUMNS} FROM schedules WHERE name = {self.db.param}", (name,)
        )
        row = cursor.fetchone()
        if row is None:
            raise TaskNotFound(f"schedule {name!r} not found")
        return _view(row)

    def list_schedules(self: Store) -> list[dict[str, Any]]:
        """Every schedule, by name."""
        cursor = self.db.execute_sql(f"SELECT {_COLUMNS} FROM schedules ORDER BY name")
        return [_view(row) for row in cursor.fetchall()]

    def delete_schedule(self: Store, name: str) -> None:
        """Remove a schedule (its tasks stay); raises ``TaskNotFound``."""
        with self.write_transaction():
            deleted = self.db.execute_sql(
                f"DELETE FROM schedules WHERE name = {self.db.param}", (name,)
            ).rowcount
        if not deleted:
            raise TaskNotFound(f"schedule {name!r} not found")

    def due_schedules(self: Store, now: float) -> list[dict[str, Any]]:
        """The enabled schedules whose next tick is at or before ``now`` (an index range),
        the earliest first and, among those due at once, by name: every leader fires
        them in the same order."""
        cursor = self.db.execute_sql(
            f"SELECT {_COLUMNS} FROM schedules WHERE enabled = 1 AND next_fire_at <= "
            f"{self.db.param} ORDER BY next_fire_at, name",
            (now,),
        )
        return [_view(row) for row in cursor.fetchall()]

    def fire_schedule(
        self: Store, firing: Firing, row: dict[str, Any] | None, now: float
    ) -> str | None:
        """Move the schedule on from ``firing.due_at`` and insert ``row`` (its tick's task,
        keyed; None when the tick is skipped), in one transaction.

        Returns the id of the tick's task (the one stored before, if its key was
        taken), or None when nothing was fired: the schedule was no longer due
        at ``due_at`` (another leader fired it, or it was changed or deleted).
        """
        p = self.db.param
        with self.write_transaction():
            if firing.fire_at is None or row is None:
                self.db.execute_sql(
                    f"UPDATE schedules SET next_fire_at = {p} WHERE name = {p} "
                    f"AND enabled = 1 AND next_fire_at = {p}",
                    (firing.next_fire_at, firing.name, firing.due_at),
                )
                return None
            # The compare-and-set first: on PostgreSQL it locks the row, so a second
            # leader waits here and then finds the schedule moved on.
            moved = self.db.execute_sql(
                f"UPDATE schedules SET next_fire_at = {p}, last_fire_at = {p}, "
                f"last_task_id = {p} WHERE name = {p} AND enabled = 1 AND next_fire_at = {p}",
                (firing.next_fire_at, firing.fire_at, row["id"], firing.name, firing.due_at),
            ).rowcount
            if not moved:
                return None
            try:
                with self.db.savepoint():
                    self._insert([row])
            except IntegrityError:
                stored = self.find_by_key(row["idempotency_key"])
                if stored is None:
                    raise
                self.db.execute_sql(
                    f"UPDATE schedules SET last_task_id = {p} WHERE name = {p}",
                    (stored["id"], firing.name),
                )
                return stored["id"]
            self._register_queues([row])
            self._record_scheduled([row])
            self._notify_enqueued()
        return row["id"]

    def trigger_schedule(self: Store, name: str, row: dict[str, Any], now: float) -> str:
        """Insert ``row``, a run of ``name`` by hand, and record it as the schedule's last
        task, in one transaction; raises ``TaskNotFound``."""
        p = self.db.param
        with self.write_transaction():
            found = self.db.execute_sql(
                f"UPDATE schedules SET last_fire_at = {p}, last_task_id = {p} WHERE name = {p}",
                (now, row["id"], name),
            ).rowcount
            if not found:
                raise TaskNotFound(f"schedule {name!r} not found")
            self._insert([row])
            self._register_queues([row])
            self._record_scheduled([row])
            self._notify_enqueued()
        return row["id"]
