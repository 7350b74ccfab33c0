"""The /tasks handlers: queue tasks, list them, read one. No SQL here."""

from __future__ import annotations

import time
from typing import Any

import cherrypy
import orjson
import pykka

import actors
import models
from actors import UnknownActions, Wake

from .body import read_json_body
from .errors import handles_errors
from .responses import json_body
from .router import Query
from .validation import (
    TaskInput,
    check_batch,
    check_limit,
    check_status,
    check_task,
    parse_json,
    single,
)


def task_view(task: dict[str, Any]) -> dict[str, Any]:
    """A stored task as the API shows it: JSON columns spliced in as JSON, not strings."""
    for name in ("payload", "result", "progress"):
        if task[name] is not None:
            task[name] = orjson.Fragment(task[name])
    return task


class TasksResource:
    """Runs in CherryPy's request threads. Writes go through the ``Intake`` (group
    commit); the handler then tells the dispatcher to wake. Reads call the store."""

    def __init__(
        self,
        store: models.Store,
        intake: models.Intake,
        dispatcher: pykka.ActorRef,
        max_body_bytes: int,
        queue_config: actors.QueueConfig,
        registry: actors.ActionRegistry,
    ) -> None:
        self.store = store
        self._intake = intake
        self._dispatcher = dispatcher
        self._max_body_bytes = max_body_bytes
        self._config = queue_config
        self._registry = registry

    @handles_errors
    def enqueue(self, query: Query) -> bytes:
        """Queue one task (a JSON object) or a batch (a JSON array); 202 once committed."""
        parsed = parse_json(read_json_body(self._max_body_bytes))
        now = time.time()
        if isinstance(parsed, dict):
            rows = [self._row(check_task(parsed, now))]
        elif isinstance(parsed, list):
            rows = check_batch(parsed, self._row, now)
        else:
            raise models.InvalidInput("body must be a JSON object, or an array of them")
        self._intake.accept(rows)
        try:
            self._dispatcher.tell(Wake(queues=frozenset(row["queue"] for row in rows)))
        except pykka.ActorDeadError:
            pass  # shutting down: the tasks are stored and run at the next start
        accepted = [{"id": row["id"], "status": row["status"]} for row in rows]
        if isinstance(parsed, dict):
            cherrypy.serving.response.headers["Location"] = f"/tasks/{rows[0]['id']}"
            return json_body(accepted[0], 202)
        return json_body({"tasks": accepted, "count": len(accepted)}, 202)

    def _row(self, task: TaskInput) -> dict[str, Any]:
        if (
            self._config.unknown_actions == UnknownActions.REJECT
            and self._registry.lookup(task.action) is None
        ):
            known = ", ".join(self._registry.names())
            raise models.InvalidInput(f"unknown action {task.action!r}; known: {known}")
        options = {
            "max_attempts": self._config.max_attempts,
            "timeout_seconds": self._config.default_timeout_seconds,
            **task.options,
        }
        return models.new_task(task.action, task.data, models.TaskOptions(**options))

    @handles_errors
    def list(self, query: Query) -> bytes:
        """Newest first; ``?status=``, ``?limit=``."""
        status = check_status(single(query, "status"))
        limit = check_limit(single(query, "limit"))
        tasks = [task_view(task) for task in self.store.list_tasks(status, limit)]
        return json_body({"tasks": tasks, "count": len(tasks)})

    @handles_errors
    def get(self, query: Query, task_id: str) -> bytes:
        return json_body(task_view(self.store.get_task(task_id)))
