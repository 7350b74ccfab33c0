"""The /tasks handlers: queue tasks, list them, read one. No SQL here."""

from __future__ import annotations

from typing import Any

import cherrypy
import orjson
import pykka

import actors
import models
from actors import UnknownActions, Wake
from actors import metrics as actor_metrics

from .body import read_json_body
from .errors import IdempotencyMismatch, handles_errors
from .listing import encode_cursor, task_query
from .responses import json_body
from .router import Query
from .validation import (
    TaskInput,
    check_batch,
    check_idempotency_key,
    check_task,
    check_wait,
    parse_json,
    single,
)
from .waiting import Waiters

REPLAYED_HEADER = "Idempotent-Replayed"
NO_WEBHOOKS = "notify: this service sends no webhooks (it runs without --webhook-secret-file)"


def task_view(task: dict[str, Any]) -> dict[str, Any]:
    """A stored task as the API shows it: JSON columns spliced in as JSON, not strings
    (but one cut in a listing, which is no longer JSON, as the string it is)."""
    for name in ("payload", "result", "progress"):
        value = task[name]
        if value is not None and not isinstance(value, models.CutText):
            task[name] = orjson.Fragment(value)
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
        waiters: Waiters,
    ) -> None:
        self.store = store
        self._intake = intake
        self._dispatcher = dispatcher
        self._max_body_bytes = max_body_bytes
        self._config = queue_config
        self._registry = registry
        self._waiters = waiters

    @handles_errors
    def enqueue(self, query: Query) -> bytes:
        """Queue one task (a JSON object) or a batch (a JSON array); 202 once committed.

        A task with an idempotency key (the ``Idempotency-Key`` header for one
        task, ``idempotency_key`` in each item of a batch) that was accepted
        before is not stored again: its answer is replayed, or refused with 422
        if the key came with a different request.
        """
        parsed = parse_json(read_json_body(self._max_body_bytes))
        header = cherrypy.serving.request.headers.get("Idempotency-Key")
        if isinstance(parsed, dict):
            if header is not None:
                if "idempotency_key" in parsed:
                    raise models.InvalidInput(
                        "give the idempotency key in the header or in the body, not both"
                    )
                parsed = {
                    **parsed,
                    "idempotency_key": check_idempotency_key(header, "Idempotency-Key"),
                }
            rows = [self._row(check_task(parsed))]
        elif isinstance(parsed, list):
            if header is not None:
                raise models.InvalidInput(
                    "Idempotency-Key is for one task; give each task of a batch its idempotency_key"
                )
            rows = check_batch(parsed, self._row)
        else:
            raise models.InvalidInput("body must be a JSON object, or an array of them")
        replays = self._replays(rows)
        new = [row for row in rows if row["id"] not in replays]
        started = False  # claimed for this node's idle workers as they were stored
        if new:
            try:
                started = self._intake.accept(new)
            except models.Conflict:
                # A key taken between our look and our insert: by a request now committed
                # (replay it), or one still being committed (the client retries).
                replays = self._replays(rows)
                if len(replays) < sum(1 for row in rows if row["idempotency_key"]):
                    raise models.Conflict(
                        "a request with this idempotency key is being processed; retry"
                    ) from None
                new = []
        if new:
            actor_metrics.count_enqueued(self._registry, new)
        if new and not started:
            try:
                self._dispatcher.tell(Wake(queues=frozenset(row["queue"] for row in new)))
            except pykka.ActorDeadError:
                pass  # shutting down: the tasks are stored and run at the next start
        accepted = [
            replays.get(row["id"]) or {"id": row["id"], "status": row["status"]} for row in rows
        ]
        if isinstance(parsed, dict):
            answer = accepted[0]
            headers = cherrypy.serving.response.headers
            headers["Location"] = f"/tasks/{answer['id']}"
            if answer.pop("replayed", False):
                headers[REPLAYED_HEADER] = "true"
            return json_body(answer, 202)
        return json_body({"tasks": accepted, "count": len(accepted)}, 202)

    def _replays(self, rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """For each keyed row whose key is already stored: the original answer, by the
        row's id. A key stored with another request is a 422 (naming the task of a batch)."""
        keyed = [(index, row) for index, row in enumerate(rows) if row["idempotency_key"]]
        seen: set[str] = set()
        replays = {}
        for index, row in keyed:
            key = row["idempotency_key"]
            where = f"task {index}: " if len(rows) > 1 else ""
            if key in seen:
                raise models.InvalidInput(f"{where}idempotency_key repeated within the batch")
            seen.add(key)
            stored = self.store.find_by_key(key)
            if stored is None:
                continue
            if stored["request_hash"] != row["request_hash"]:
                raise IdempotencyMismatch(f"{where}idempotency key reused with a different request")
            replays[row["id"]] = {
                "id": stored["id"],
                "status": self.store.accepted_status(stored["id"]),
                "replayed": True,
            }
        return replays

    def _row(self, task: TaskInput) -> dict[str, Any]:
        if (
            self._config.unknown_actions == UnknownActions.REJECT
            and self._registry.lookup(task.action) is None
        ):
            known = ", ".join(self._registry.names())
            raise models.InvalidInput(f"unknown action {task.action!r}; known: {known}")
        if "notify_url" in task.options and self._config.webhook_secret is None:
            raise models.InvalidInput(NO_WEBHOOKS)
        options = {
            "max_attempts": self._config.max_attempts,
            "timeout_seconds": self._config.default_timeout_seconds,
            **task.options,
        }
        return models.new_task(task.action, task.data, models.TaskOptions(**options))

    @handles_errors
    def list(self, query: Query) -> bytes:
        """A page, newest first, filtered; ``next_cursor`` continues it (null: no more).
        ``count`` is the number of tasks in this page, as in the reference."""
        page = self.store.list_page(task_query(query))
        tasks = [task_view(task) for task in page.tasks]
        return json_body(
            {"tasks": tasks, "count": len(tasks), "next_cursor": encode_cursor(page.next)}
        )

    @handles_errors
    def get(self, query: Query, task_id: str) -> bytes:
        """One task; with ``?wait=S`` (0 to 60), once it is finished or S seconds passed."""
        seconds = check_wait(single(query, "wait"))
        task, waited = self._waiters.wait(task_id, seconds, lambda: self.store.get_task(task_id))
        if not waited:
            cherrypy.serving.response.headers["Retry-After"] = "1"
        return json_body(task_view(task))
