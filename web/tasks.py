"""The /tasks handlers: queue tasks, list them, read one. No SQL here."""

from __future__ import annotations

from typing import Any

import cherrypy
import orjson
import pykka

import models
from actors import Wake

from .body import read_json_body
from .errors import handles_errors
from .responses import json_body
from .router import Query
from .validation import check_batch, check_limit, check_status, check_task, parse_json, single


def task_view(task: dict[str, Any]) -> dict[str, Any]:
    """A stored task as the API shows it: payload and result spliced in as JSON, not strings."""
    task["payload"] = orjson.Fragment(task["payload"])
    if task["result"] is not None:
        task["result"] = orjson.Fragment(task["result"])
    return task


def new_rows(parsed: Any) -> list[dict[str, Any]]:
    """The rows for a task object, or for a batch (all valid, or a 400 naming the first bad one)."""
    if isinstance(parsed, dict):
        return [models.new_task(*check_task(parsed))]
    if not isinstance(parsed, list):
        raise models.InvalidInput("body must be a JSON object, or an array of them")
    return check_batch(parsed, models.new_task)


class TasksResource:
    """Runs in CherryPy's request threads. Writes go through the ``Intake`` (group
    commit); the handler then tells the dispatcher to wake. Reads call the store."""

    def __init__(
        self,
        store: models.Store,
        intake: models.Intake,
        dispatcher: pykka.ActorRef,
        max_body_bytes: int,
    ) -> None:
        self.store = store
        self._intake = intake
        self._dispatcher = dispatcher
        self._max_body_bytes = max_body_bytes

    @handles_errors
    def enqueue(self, query: Query) -> bytes:
        """Queue one task (a JSON object) or a batch (a JSON array); 202 once committed."""
        parsed = parse_json(read_json_body(self._max_body_bytes))
        rows = new_rows(parsed)
        self._intake.accept(rows)
        try:
            self._dispatcher.tell(Wake())
        except pykka.ActorDeadError:
            pass  # shutting down: the tasks are stored and run at the next start
        accepted = [{"id": row["id"], "status": models.Status.QUEUED} for row in rows]
        if isinstance(parsed, dict):
            cherrypy.serving.response.headers["Location"] = f"/tasks/{rows[0]['id']}"
            return json_body(accepted[0], 202)
        return json_body({"tasks": accepted, "count": len(accepted)}, 202)

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
