"""Control by hand over HTTP: cancel and retry one task, a list of them, or a filter."""

from __future__ import annotations

from typing import Any

import pykka

import actors
import models
from actors import CancelRequested, Wake
from models import clock

from .body import read_json_body
from .caller import caller
from .errors import handles_errors
from .responses import json_body
from .router import Query
from .tasks import task_view
from .validation import check_queue_name, check_status, parse_json

MAX_BULK_IDS = 1000
FILTER_FIELDS = ("status", "queue", "action", "error")


class ControlResource:
    """Runs in CherryPy's request threads; the store makes each change and records who."""

    def __init__(
        self,
        store: models.Store,
        dispatcher: pykka.ActorRef,
        max_body_bytes: int,
        queue_config: actors.QueueConfig,
        board: actors.FinishedBoard,
    ) -> None:
        self.store = store
        self._dispatcher = dispatcher
        self._max_body_bytes = max_body_bytes
        self._config = queue_config
        self._board = board

    @handles_errors
    def cancel(self, query: Query, task_id: str) -> bytes:
        """200 with the task canceled at once; 202 when its running attempt is asked to stop."""
        status = self.store.cancel(task_id, caller(), clock.now())
        if status == models.Status.RUNNING:
            self._tell(CancelRequested((task_id,)))
            return json_body(task_view(self.store.get_task(task_id)), 202)
        self._board.publish([task_id])
        return json_body(task_view(self.store.get_task(task_id)))

    @handles_errors
    def retry(self, query: Query, task_id: str) -> bytes:
        """200 with the task queued again, due now, with a fresh budget of attempts."""
        task = self.store.retry(task_id, caller(), clock.now(), self._config.max_attempts)
        self._tell(Wake())
        return json_body(task_view(task))

    @handles_errors
    def cancel_many(self, query: Query) -> bytes:
        ids, where = self._selection()
        now = clock.now()
        if ids is not None:
            result = self.store.cancel_many(ids, caller(), now)
        else:
            result = self.store.cancel_matching(where, caller(), now)
        if result.changed:
            # Running tasks among them: every node hears at its next poll; this one now.
            self._tell(CancelRequested(tuple(self.store.cancel_requests(self._config.owner))))
        return json_body({"matched": result.matched, "changed": result.changed})

    @handles_errors
    def retry_many(self, query: Query) -> bytes:
        ids, where = self._selection()
        now = clock.now()
        budget = self._config.max_attempts
        if ids is not None:
            result = self.store.retry_many(ids, caller(), now, budget)
        else:
            result = self.store.retry_matching(where, caller(), now, budget)
        if result.changed:
            self._tell(Wake())
        return json_body({"matched": result.matched, "changed": result.changed})

    def _selection(self) -> tuple[list[str] | None, models.TaskFilter | None]:
        """``{"ids": [...]}`` (at most ``MAX_BULK_IDS``) or ``{"filter": {...}}``."""
        body = parse_json(read_json_body(self._max_body_bytes))
        if not isinstance(body, dict) or len(body) != 1 or not {"ids", "filter"} & set(body):
            raise models.InvalidInput('body must be {"ids": [...]} or {"filter": {...}}')
        if "ids" in body:
            ids = body["ids"]
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                raise models.InvalidInput("ids must be an array of task ids")
            if not 1 <= len(ids) <= MAX_BULK_IDS:
                raise models.InvalidInput(f"ids must hold 1 to {MAX_BULK_IDS} task ids")
            return [i for i in ids if "\x00" not in i], None
        return None, _filter(body["filter"])

    def _tell(self, message: Any) -> None:
        try:
            self._dispatcher.tell(message)
        except pykka.ActorDeadError:
            pass  # stopping: the change is stored; every node reads it at its next poll


def _filter(value: Any) -> models.TaskFilter:
    if not isinstance(value, dict):
        raise models.InvalidInput("filter must be an object")
    unknown = sorted(set(value) - set(FILTER_FIELDS))
    if unknown:
        raise models.InvalidInput(
            f"filter.{unknown[0]} is not a filter; use {', '.join(FILTER_FIELDS)}"
        )
    status = value.get("status")
    if status is not None and not isinstance(status, str):
        raise models.InvalidInput("filter.status must be a status")
    try:
        status = check_status(status)
    except models.InvalidInput as exc:
        raise models.InvalidInput(f"filter.{exc}") from exc
    queue = value.get("queue")
    if queue is not None:
        queue = check_queue_name(queue, "filter.queue")
    action = value.get("action")
    if action is not None and (not isinstance(action, str) or "\x00" in action):
        raise models.InvalidInput("filter.action must be an action name")
    error = value.get("error")
    if error is not None and (not isinstance(error, str) or "\x00" in error):
        raise models.InvalidInput("filter.error must be an error text")
    return models.TaskFilter(status=status, queue=queue, action=action, error=error)
