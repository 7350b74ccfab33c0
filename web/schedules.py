"""The /schedules handlers: periodic tasks, made, listed, removed and run by hand."""

from __future__ import annotations

import re
import time
from typing import Any

import pykka

import actors
import models
from actors import UnknownActions, Wake

from .body import read_json_body
from .errors import handles_errors
from .responses import json_body
from .router import Query
from .tasks import NO_WEBHOOKS
from .validation import TASK_FIELDS, check_task, parse_json

SCHEDULE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
SCHEDULE_FIELDS = ("cron", "timezone", "task", "enabled", "catch_up")
# A periodic task is due at its tick and has the schedule's key: no run_at, delay or key.
SCHEDULE_TASK_FIELDS = tuple(
    name for name in TASK_FIELDS if name not in ("run_at", "delay", "idempotency_key")
)


def check_schedule_name(name: str) -> str:
    if not SCHEDULE_NAME.fullmatch(name):
        raise models.InvalidInput(
            "a schedule name is 1 to 100 characters of A-Z, a-z, 0-9, '_', '.', '-'"
        )
    return name


class SchedulesResource:
    """Runs in CherryPy's request threads; the store keeps the schedules, the leader's
    scheduler fires them."""

    def __init__(
        self,
        store: models.Store,
        dispatcher: pykka.ActorRef,
        max_body_bytes: int,
        queue_config: actors.QueueConfig,
        registry: actors.ActionRegistry,
    ) -> None:
        self.store = store
        self._dispatcher = dispatcher
        self._max_body_bytes = max_body_bytes
        self._config = queue_config
        self._registry = registry

    @handles_errors
    def put(self, query: Query, name: str) -> bytes:
        """Create (201) or replace (200) the schedule ``name``."""
        spec = self._spec(
            check_schedule_name(name), parse_json(read_json_body(self._max_body_bytes))
        )
        view, created = self.store.put_schedule(spec, time.time())
        return json_body(view, 201 if created else 200)

    @handles_errors
    def list(self, query: Query) -> bytes:
        return json_body({"schedules": self.store.list_schedules()})

    @handles_errors
    def get(self, query: Query, name: str) -> bytes:
        return json_body(self.store.get_schedule(check_schedule_name(name)))

    @handles_errors
    def delete(self, query: Query, name: str) -> bytes:
        """Remove the schedule; the tasks it made stay."""
        self.store.delete_schedule(check_schedule_name(name))
        return json_body({"name": name, "deleted": True})

    @handles_errors
    def trigger(self, query: Query, name: str) -> bytes:
        """Queue one run of the schedule's task now (202, as a POST /tasks), enabled or not."""
        schedule = self.store.get_schedule(check_schedule_name(name))
        row = models.schedule_task_row(
            schedule["task"], self._config.max_attempts, self._config.default_timeout_seconds
        )
        task_id = self.store.trigger_schedule(name, row, time.time())
        try:
            self._dispatcher.tell(Wake(queues=frozenset([row["queue"]])))
        except pykka.ActorDeadError:
            pass  # stopping: the task is stored and runs at the next start
        return json_body({"id": task_id, "status": row["status"], "schedule": name}, 202)

    def _spec(self, name: str, body: Any) -> models.ScheduleSpec:
        """The body of a PUT, every field checked; an error names the field."""
        if not isinstance(body, dict):
            raise models.InvalidInput("a schedule must be a JSON object")
        unknown = sorted(set(body) - set(SCHEDULE_FIELDS))
        if unknown:
            raise models.InvalidInput(
                f"unknown field {unknown[0]!r}; a schedule has only "
                f"{', '.join(map(repr, SCHEDULE_FIELDS))}"
            )
        if "cron" not in body:
            raise models.InvalidInput("cron required")
        cron = models.check_cron(body["cron"])
        timezone = body.get("timezone", "UTC")
        models.check_timezone(timezone)
        enabled = body.get("enabled", True)
        if not isinstance(enabled, bool):
            raise models.InvalidInput("enabled must be true or false")
        catch_up = body.get("catch_up", "one")
        if catch_up not in models.CATCH_UP:
            raise models.InvalidInput(f"catch_up must be one of: {', '.join(models.CATCH_UP)}")
        return models.ScheduleSpec(
            name, cron, timezone, self._task(body.get("task")), enabled, catch_up
        )

    def _task(self, template: Any) -> dict[str, Any]:
        """The task it makes: the fields and checks of POST /tasks, but due at each tick."""
        if template is None:
            raise models.InvalidInput("task required")
        if not isinstance(template, dict):
            raise models.InvalidInput("task must be a JSON object")
        unknown = sorted(set(template) - set(SCHEDULE_TASK_FIELDS))
        if unknown:
            raise models.InvalidInput(
                f"task.{unknown[0]} is not allowed; a schedule's task has only "
                f"{', '.join(map(repr, SCHEDULE_TASK_FIELDS))}"
            )
        try:
            checked = check_task(template)
        except models.InvalidInput as exc:
            raise models.InvalidInput(f"task.{exc}") from None
        if (
            self._config.unknown_actions == UnknownActions.REJECT
            and self._registry.lookup(checked.action) is None
        ):
            known = ", ".join(self._registry.names())
            raise models.InvalidInput(
                f"task.action: unknown action {checked.action!r}; known: {known}"
            )
        if "notify_url" in checked.options and self._config.webhook_secret is None:
            raise models.InvalidInput(f"task.{NO_WEBHOOKS}")
        return template
