"""The OpenAPI 3 description of the API, served at /openapi.json."""

from __future__ import annotations

from typing import Any

from .config import WebConfig
from .schemas import QUEUE_NAME_SCHEMA, SCHEDULE_NAME_SCHEMA, STATUS_SCHEMA, ref, schemas
from .validation import MAX_BATCH_TASKS, MAX_LIST_LIMIT

UNAVAILABLE = "Database unavailable; see Retry-After"
SECURITY_SCHEMES = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "A token of --token-file, sent as 'Authorization: Bearer <secret>'. "
        "Roles: read (GET), write (read, and POST /tasks), admin (everything). A missing "
        "or wrong token is a 401 with WWW-Authenticate; a role too low, a 403.",
    }
}


def _body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _body(ref("Error"), description)


def _operation(
    summary: str,
    operation_id: str,
    responses: dict[str, Any],
    parameters: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "operationId": operation_id,
        "responses": {**responses, "503": _error(UNAVAILABLE)},
    }
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = body
    return operation


def _path_parameter(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema}


TASK_ID = _path_parameter("id", {"type": "string"})
QUEUE = _path_parameter("name", QUEUE_NAME_SCHEMA)
SCHEDULE = _path_parameter("name", SCHEDULE_NAME_SCHEMA)


def _query(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    parameter = {"name": name, "in": "query", "required": False, "schema": schema}
    if description:
        parameter["description"] = description
    return parameter


MOMENT = {
    "description": "Unix seconds, or an RFC 3339 date-time with an offset",
    "type": "string",
}


def build_document(config: WebConfig) -> dict[str, Any]:
    submission = ref("TaskSubmission")
    json_body = {
        "required": True,
        "description": f"At most {config.max_body_bytes} bytes.",
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "taskqueue",
            "version": "1",
            "description": "A durable REST task queue: a 202 means the task is committed.",
        },
        "paths": {
            "/tasks": {
                "post": _operation(
                    "Queue one task, or up to 1,000 at once (all or nothing)",
                    "queueTasks",
                    {
                        "202": _body(
                            {"oneOf": [ref("Accepted"), ref("AcceptedBatch")]},
                            "Committed to the database: queued, or scheduled for later "
                            "(or, for a key used before with the same request, the original "
                            "answer again, with Idempotent-Replayed: true)",
                        ),
                        "400": _error("Invalid JSON or an invalid task; nothing stored"),
                        "409": _error(
                            "A task the database refused as a whole, or a request with the "
                            "same idempotency key not yet committed; nothing stored"
                        ),
                        "413": _error("Body too large"),
                        "415": _error("Content-Type is not JSON"),
                        "422": _error("The idempotency key was used with a different request"),
                    },
                    parameters=[
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "description": "For one task: the same key with the same "
                            "request makes no new task and replays the answer.",
                            "schema": {
                                "type": "string",
                                "minLength": 1,
                                "maxLength": 257,
                                "pattern": "^[ -~]+$",
                            },
                        }
                    ],
                    body={
                        **json_body,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": [
                                        submission,
                                        {
                                            "type": "array",
                                            "items": submission,
                                            "minItems": 1,
                                            "maxItems": MAX_BATCH_TASKS,
                                        },
                                    ]
                                }
                            }
                        },
                    },
                ),
                "get": _operation(
                    "List tasks, newest first",
                    "listTasks",
                    {
                        "200": _body(ref("TaskList"), "The tasks"),
                        "400": _error("A bad or unknown query parameter"),
                    },
                    parameters=[
                        {
                            "name": "status",
                            "in": "query",
                            "required": False,
                            "schema": STATUS_SCHEMA,
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "required": False,
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": MAX_LIST_LIMIT,
                                "default": 100,
                            },
                        },
                    ],
                ),
            },
            "/tasks/{id}": {
                "get": _operation(
                    "One task; with ?wait=S, once it is finished or S seconds passed",
                    "getTask",
                    {
                        "200": _body(
                            ref("Task"),
                            "The task (as it is now, with Retry-After, when too many "
                            "requests wait already)",
                        ),
                        "400": _error("A bad or unknown query parameter"),
                        "404": _error("No such task"),
                    },
                    parameters=[
                        TASK_ID,
                        _query("wait", {"type": "number", "minimum": 0, "maximum": 60}),
                    ],
                )
            },
            "/tasks/{id}/events": {
                "get": _operation(
                    "The history of a task, oldest first",
                    "getTaskEvents",
                    {"200": _body(ref("EventList"), "The events"), "404": _error("No such task")},
                    parameters=[TASK_ID],
                )
            },
            "/tasks/{id}/diagnosis": {
                "get": _operation(
                    "Why isn't this task running? Every reason that applies",
                    "getTaskDiagnosis",
                    {
                        "200": _body(ref("Diagnosis"), "The reasons, most important first"),
                        "404": _error("No such task"),
                    },
                    parameters=[TASK_ID],
                )
            },
            "/tasks/{id}/deliveries": {
                "get": _operation(
                    "The completion webhooks of a task: each delivery and each of its tries",
                    "getTaskDeliveries",
                    {
                        "200": _body(ref("DeliveryList"), "The deliveries, oldest first"),
                        "404": _error("No such task (or it was pruned)"),
                    },
                    parameters=[TASK_ID],
                )
            },
            "/schedules": {
                "get": _operation(
                    "Every periodic schedule, with its next and last fire time",
                    "listSchedules",
                    {"200": _body(ref("ScheduleList"), "The schedules, by name")},
                )
            },
            "/schedules/{name}": {
                "get": _operation(
                    "One schedule",
                    "getSchedule",
                    {
                        "200": _body(ref("Schedule"), "The schedule"),
                        "400": _error("Not a schedule name"),
                        "404": _error("No such schedule"),
                    },
                    parameters=[SCHEDULE],
                ),
                "put": _operation(
                    "Create or replace a schedule",
                    "putSchedule",
                    {
                        "200": _body(ref("Schedule"), "Replaced"),
                        "201": _body(ref("Schedule"), "Created"),
                        "400": _error(
                            "A bad field (a cron expression, a time zone, the task): the "
                            "message names it"
                        ),
                        "413": _error("Body too large"),
                        "415": _error("Content-Type is not JSON"),
                    },
                    parameters=[SCHEDULE],
                    body={
                        **json_body,
                        "content": {"application/json": {"schema": ref("ScheduleInput")}},
                    },
                ),
                "delete": _operation(
                    "Remove a schedule (the tasks it made stay)",
                    "deleteSchedule",
                    {
                        "200": _body(ref("Deleted"), "Removed"),
                        "400": _error("Not a schedule name"),
                        "404": _error("No such schedule"),
                    },
                    parameters=[SCHEDULE],
                ),
            },
            "/schedules/{name}/trigger": {
                "post": _operation(
                    "Queue one run of the schedule's task now",
                    "triggerSchedule",
                    {
                        "202": _body(ref("Triggered"), "Committed: the task is queued"),
                        "400": _error("Not a schedule name"),
                        "404": _error("No such schedule"),
                    },
                    parameters=[SCHEDULE],
                )
            },
            "/nodes": {
                "get": _operation(
                    "The nodes: alive, draining, or lost (unseen for three leases)",
                    "listNodes",
                    {"200": _body(ref("NodeList"), "The nodes")},
                )
            },
            "/dead-letters": {
                "get": _operation(
                    "The latest 10,000 dead tasks grouped by action and error, biggest first",
                    "getDeadLetters",
                    {"200": _body(ref("DeadLetters"), "The groups")},
                )
            },
            "/stats": {
                "get": _operation(
                    "Completed, failed and dead tasks and the wait to start, by minute, "
                    "over the last hour",
                    "getStats",
                    {"200": _body(ref("Stats"), "The minutes")},
                )
            },
            "/tasks/{id}/cancel": {
                "post": _operation(
                    "Cancel a task",
                    "cancelTask",
                    {
                        "200": _body(ref("Task"), "Canceled at once: no attempt was running"),
                        "202": _body(
                            ref("Task"),
                            "Its running attempt is asked to stop (cancel_requested); the task "
                            "becomes canceled when it ends, unless it completes",
                        ),
                        "404": _error("No such task"),
                        "409": _error("The task is already completed, dead or canceled"),
                    },
                    parameters=[TASK_ID],
                )
            },
            "/tasks/{id}/retry": {
                "post": _operation(
                    "Send a completed, dead or canceled task back to the queue",
                    "retryTask",
                    {
                        "200": _body(ref("Task"), "Queued, due now, with a fresh budget"),
                        "404": _error("No such task"),
                        "409": _error("The task is not finished"),
                    },
                    parameters=[TASK_ID],
                )
            },
            "/tasks/cancel": {
                "post": _operation(
                    "Cancel many tasks: by ids, or every task a filter matches",
                    "cancelTasks",
                    {
                        "200": _body(ref("BulkResult"), "How many matched and how many changed"),
                        "400": _error("A bad selection"),
                        "413": _error("Body too large"),
                        "415": _error("Content-Type is not JSON"),
                    },
                    body={
                        **json_body,
                        "content": {"application/json": {"schema": ref("Selection")}},
                    },
                )
            },
            "/tasks/retry": {
                "post": _operation(
                    "Retry many finished tasks: by ids, or every task a filter matches",
                    "retryTasks",
                    {
                        "200": _body(ref("BulkResult"), "How many matched and how many changed"),
                        "400": _error("A bad selection"),
                        "413": _error("Body too large"),
                        "415": _error("Content-Type is not JSON"),
                    },
                    body={
                        **json_body,
                        "content": {"application/json": {"schema": ref("Selection")}},
                    },
                )
            },
            "/queues": {
                "get": _operation(
                    "Every queue that has tasks or has been paused",
                    "listQueues",
                    {"200": _body(ref("QueueList"), "The queues")},
                )
            },
            "/queues/{name}/pause": {
                "post": _operation(
                    "Pause a queue on every node: it still takes tasks, and running ones finish",
                    "pauseQueue",
                    {"200": _body(ref("Queue"), "Paused"), "400": _error("Not a queue name")},
                    parameters=[QUEUE],
                )
            },
            "/queues/{name}/resume": {
                "post": _operation(
                    "Resume a paused queue",
                    "resumeQueue",
                    {
                        "200": _body(ref("Queue"), "Resumed"),
                        "400": _error("Not a queue name"),
                        "404": _error("No such queue"),
                    },
                    parameters=[QUEUE],
                )
            },
            "/actions": {
                "get": {
                    "summary": "The actions this node runs, and what it does with others",
                    "operationId": "listActions",
                    "responses": {"200": _body(ref("ActionList"), "The actions")},
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Liveness: 200 while the process's actors are alive (no database)",
                    "operationId": "healthz",
                    "responses": {
                        "200": _body(ref("Health"), "Alive"),
                        "503": _body(ref("Health"), "The actor system has stopped"),
                    },
                }
            },
            "/readyz": {
                "get": {
                    "summary": "Readiness: 200 when the node can take work, else 503 naming "
                    "each failing check",
                    "operationId": "readyz",
                    "responses": {
                        "200": _body(ref("Readiness"), "Ready"),
                        "503": _body(ref("Readiness"), "Not ready: see failing"),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics of this node (text exposition format)",
                    "operationId": "metrics",
                    "responses": {
                        "200": {
                            "description": "The metrics",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "operationId": "openapi",
                    "responses": {
                        "200": _body({"type": "object"}, "OpenAPI 3 document"),
                    },
                }
            },
        },
        "components": {"schemas": schemas(), "securitySchemes": SECURITY_SCHEMES},
        # Every operation, unless it says otherwise; a service without --token-file
        # serves its own machine's clients without one (README, "Security").
        "security": [{"bearer": []}],
    }
