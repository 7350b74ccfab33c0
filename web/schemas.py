"""The schemas of the OpenAPI document: what each body holds."""

from __future__ import annotations

from typing import Any

from models import CATCH_UP, DELIVERY_STATES, DIAGNOSIS_CODES, EVENT_KINDS, FINISHED, STATUSES

from .validation import (
    MAX_ACTION_LENGTH,
    MAX_ATTEMPTS,
    MAX_DELAY_SECONDS,
    MAX_IDEMPOTENCY_KEY_LENGTH,
    MAX_NOTIFY_URL_LENGTH,
    MAX_PRIORITY,
    MAX_RUN_AT,
    MAX_TIMEOUT_SECONDS,
    QUEUE_NAME,
)

QUEUE_NAME_SCHEMA = {"type": "string", "pattern": f"^{QUEUE_NAME.pattern}$"}
STATUS_SCHEMA = {"type": "string", "enum": list(STATUSES)}
SCHEDULE_NAME_SCHEMA = {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,100}$"}
NOTIFY_SCHEMA = {
    "description": "POST the task, signed (Standard Webhooks), to this URL when it is "
    "completed, dead or canceled.",
    "type": "object",
    "required": ["url"],
    "additionalProperties": False,
    "properties": {
        "url": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_NOTIFY_URL_LENGTH,
            "pattern": "^https?://[!-~]+$",
        }
    },
}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def schemas() -> dict[str, Any]:
    core = _core_schemas()
    return {**core, **schedule_schemas(core["TaskSubmission"]), **delivery_schemas()}


def _core_schemas() -> dict[str, Any]:
    return {
        "TaskSubmission": {
            "type": "object",
            "required": ["action"],
            "additionalProperties": False,
            "properties": {
                "action": {"type": "string", "minLength": 1, "maxLength": MAX_ACTION_LENGTH},
                "data": {"type": "object", "nullable": True},
                "run_at": {
                    "description": "When it becomes due: Unix seconds, or an RFC 3339 "
                    "date-time with an offset. Not with delay.",
                    "oneOf": [
                        {"type": "number", "minimum": 0, "maximum": MAX_RUN_AT},
                        {"type": "string", "format": "date-time"},
                    ],
                },
                "delay": {
                    "description": "Seconds from now until due. Not with run_at.",
                    "type": "number",
                    "minimum": 0,
                    "maximum": MAX_DELAY_SECONDS,
                },
                "priority": {
                    "description": "Among due tasks, a lower number starts first.",
                    "type": "integer",
                    "minimum": 0,
                    "maximum": MAX_PRIORITY,
                    "default": 0,
                },
                "queue": {**QUEUE_NAME_SCHEMA, "default": "default"},
                "max_attempts": {"type": "integer", "minimum": 1, "maximum": MAX_ATTEMPTS},
                "timeout": {
                    "description": "Seconds one attempt may run; 0 means no limit.",
                    "type": "number",
                    "minimum": 0,
                    "maximum": MAX_TIMEOUT_SECONDS,
                },
                "idempotency_key": {
                    "description": "In a batch: this task's idempotency key (for one task, "
                    "the Idempotency-Key header).",
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_IDEMPOTENCY_KEY_LENGTH,
                    "pattern": "^[ -~]+$",
                },
                "notify": NOTIFY_SCHEMA,
            },
        },
        "Accepted": {
            "type": "object",
            "required": ["id", "status"],
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "status": {"type": "string", "enum": ["queued", "scheduled"]},
                "replayed": {
                    "description": "In a batch: this task's key was used before, with the "
                    "same request; this is its original answer.",
                    "type": "boolean",
                },
            },
        },
        "AcceptedBatch": {
            "type": "object",
            "required": ["tasks", "count"],
            "properties": {
                "tasks": {"type": "array", "items": ref("Accepted")},
                "count": {"type": "integer"},
            },
        },
        "Task": {
            "type": "object",
            "required": [
                "id",
                "action",
                "payload",
                "status",
                "result",
                "error",
                "traceback",
                "attempts",
                "created_at",
                "processed_at",
                "node",
                "queue",
                "priority",
                "run_at",
                "max_attempts",
                "timeout",
                "cancel_requested",
                "progress",
            ],
            "properties": {
                "id": {"type": "string"},
                "action": {"type": "string"},
                "payload": {
                    "description": "What was submitted: id, action, data, created_at. In a "
                    "listing, when truncated, the first 4,096 characters of its JSON text.",
                    "oneOf": [{"type": "object"}, {"type": "string"}],
                },
                "status": STATUS_SCHEMA,
                "result": {
                    "description": "What the action returned (any JSON). In a listing, "
                    "when truncated, the first 4,096 characters of its JSON text.",
                    "nullable": True,
                },
                "error": {"type": "string", "nullable": True},
                "traceback": {"type": "string", "nullable": True},
                "attempts": {"type": "integer", "minimum": 0},
                "created_at": {"type": "integer"},
                "processed_at": {"type": "integer", "nullable": True},
                "node": {"type": "string", "nullable": True},
                "queue": {"type": "string"},
                "priority": {"type": "integer", "minimum": 0, "maximum": MAX_PRIORITY},
                "run_at": {"type": "number"},
                "max_attempts": {"type": "integer", "nullable": True},
                "timeout": {"type": "number", "nullable": True},
                "cancel_requested": {"type": "boolean"},
                "progress": {
                    "type": "object",
                    "nullable": True,
                    "properties": {
                        "fraction": {"type": "number", "nullable": True},
                        "message": {"type": "string", "nullable": True},
                        "at": {"type": "number"},
                    },
                },
                "truncated": {
                    "description": "In a listing: payload, result or error was cut to its "
                    "first 4,096 characters (a string then); GET /tasks/{id} has it whole.",
                    "type": "boolean",
                },
            },
        },
        "TaskList": {
            "type": "object",
            "required": ["tasks", "count", "next_cursor"],
            "properties": {
                "tasks": {"type": "array", "items": ref("Task")},
                "count": {"description": "Tasks in this page.", "type": "integer"},
                "next_cursor": {
                    "description": "Pass as ?cursor= for the next (older) page; null: none.",
                    "type": "string",
                    "nullable": True,
                },
            },
        },
        "EventList": {
            "type": "object",
            "required": ["events"],
            "properties": {
                "events": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["at", "kind"],
                        "properties": {
                            "at": {"type": "number"},
                            "kind": {"type": "string", "enum": list(EVENT_KINDS)},
                        },
                    },
                }
            },
        },
        "Diagnosis": {
            "type": "object",
            "required": ["status", "runnable", "reasons"],
            "properties": {
                "status": STATUS_SCHEMA,
                "runnable": {"type": "boolean"},
                "reasons": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {
                            "code": {"type": "string", "enum": list(DIAGNOSIS_CODES)},
                            "message": {"type": "string"},
                        },
                    },
                },
            },
        },
        "NodeList": {
            "type": "object",
            "required": ["nodes"],
            "properties": {
                "nodes": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "owner", "state", "workers", "busy", "last_seen"],
                        "properties": {
                            "name": {"type": "string"},
                            "owner": {"type": "string"},
                            "version": {"type": "string"},
                            "queues": {
                                "type": "array",
                                "items": {"type": "string"},
                                "nullable": True,
                            },
                            "workers": {"type": "integer"},
                            "busy": {"type": "integer"},
                            "idle": {"type": "integer"},
                            "started_at": {"type": "number"},
                            "last_seen": {"type": "number"},
                            "draining": {"type": "boolean"},
                            "completed_per_minute": {"type": "number"},
                            "state": {"type": "string", "enum": ["alive", "draining", "lost"]},
                        },
                    },
                }
            },
        },
        "DeadLetters": {
            "type": "object",
            "required": ["groups", "scanned", "complete"],
            "properties": {
                "groups": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["action", "error", "count", "latest_at", "sample_id"],
                        "properties": {
                            "action": {"type": "string"},
                            "error": {"type": "string", "nullable": True},
                            "count": {"type": "integer"},
                            "latest_at": {"type": "integer", "nullable": True},
                            "sample_id": {"type": "string"},
                        },
                    },
                },
                "scanned": {"type": "integer"},
                "complete": {"type": "boolean"},
            },
        },
        "Stats": {
            "type": "object",
            "required": ["minutes"],
            "properties": {
                "minutes": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "minute": {"type": "integer"},
                            "completed": {"type": "integer"},
                            "failed": {"type": "integer"},
                            "dead": {"type": "integer"},
                            "wait_mean_seconds": {"type": "number", "nullable": True},
                            "wait_max_seconds": {"type": "number", "nullable": True},
                        },
                    },
                }
            },
        },
        "Selection": {
            "description": "Which tasks: a list of ids, or every task a filter matches.",
            "oneOf": [
                {
                    "type": "object",
                    "required": ["ids"],
                    "additionalProperties": False,
                    "properties": {
                        "ids": {
                            "type": "array",
                            "items": {"type": "string"},
                            "minItems": 1,
                            "maxItems": 1000,
                        }
                    },
                },
                {
                    "type": "object",
                    "required": ["filter"],
                    "additionalProperties": False,
                    "properties": {
                        "filter": {
                            "description": "Each field narrows the selection; "
                            "null or absent matches anything.",
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "status": {**STATUS_SCHEMA, "nullable": True},
                                "queue": {**QUEUE_NAME_SCHEMA, "nullable": True},
                                "action": {"type": "string", "nullable": True},
                                "error": {
                                    "description": "The last error, exactly",
                                    "type": "string",
                                    "nullable": True,
                                },
                            },
                        }
                    },
                },
            ],
        },
        "BulkResult": {
            "type": "object",
            "required": ["matched", "changed"],
            "properties": {"matched": {"type": "integer"}, "changed": {"type": "integer"}},
        },
        "Queue": {
            "type": "object",
            "required": ["name", "counts", "oldest_due_age_seconds", "paused"],
            "properties": {
                "name": {"type": "string"},
                "counts": {
                    "type": "object",
                    "properties": {str(status): {"type": "integer"} for status in STATUSES},
                },
                "oldest_due_age_seconds": {"type": "number", "nullable": True},
                "paused": {"type": "boolean"},
                "paused_at": {"type": "number", "nullable": True},
                "paused_by": {"type": "string", "nullable": True},
            },
        },
        "QueueList": {
            "type": "object",
            "required": ["queues"],
            "properties": {"queues": {"type": "array", "items": ref("Queue")}},
        },
        "ActionList": {
            "type": "object",
            "required": ["actions", "unknown_actions"],
            "properties": {
                "actions": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "source", "takes_context"],
                        "properties": {
                            "name": {"type": "string"},
                            "source": {"type": "string"},
                            "takes_context": {"type": "boolean"},
                        },
                    },
                },
                "unknown_actions": {"type": "string", "enum": ["process", "reject"]},
            },
        },
        "Health": {
            "type": "object",
            "required": ["status"],
            "properties": {"status": {"type": "string"}, "error": {"type": "string"}},
        },
        "Readiness": {
            "type": "object",
            "required": ["status"],
            "properties": {
                "status": {"type": "string", "enum": ["ready", "not ready"]},
                "checks": {"type": "object", "additionalProperties": {"type": "string"}},
                "failing": {"type": "object", "additionalProperties": {"type": "string"}},
                "error": {"type": "string"},
            },
        },
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {"error": {"type": "string"}},
        },
    }


def schedule_schemas(task: dict[str, Any]) -> dict[str, Any]:
    template = {
        **task,
        "description": "The task each tick makes: the fields of POST /tasks but run_at, "
        "delay and idempotency_key.",
        "properties": {
            name: value
            for name, value in task["properties"].items()
            if name not in ("run_at", "delay", "idempotency_key")
        },
    }
    moment = {"type": "number", "nullable": True, "description": "Unix seconds"}
    return {
        "ScheduleInput": {
            "type": "object",
            "required": ["cron", "task"],
            "additionalProperties": False,
            "properties": {
                "cron": {
                    "description": "Five fields (minute hour day-of-month month day-of-week) "
                    "with ranges, steps, lists and names, or @yearly, @monthly, @weekly, "
                    "@daily, @midnight, @hourly.",
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 200,
                },
                "timezone": {
                    "description": "An IANA time zone, for the calendar of the cron fields.",
                    "type": "string",
                    "default": "UTC",
                },
                "task": template,
                "enabled": {"type": "boolean", "default": True},
                "catch_up": {
                    "description": "After ticks no node was up for: one run, or none.",
                    "type": "string",
                    "enum": list(CATCH_UP),
                    "default": "one",
                },
            },
        },
        "Schedule": {
            "type": "object",
            "required": ["name", "cron", "timezone", "task", "enabled", "catch_up"],
            "properties": {
                "name": SCHEDULE_NAME_SCHEMA,
                "cron": {"type": "string"},
                "timezone": {"type": "string"},
                "task": {"type": "object"},
                "enabled": {"type": "boolean"},
                "catch_up": {"type": "string", "enum": list(CATCH_UP)},
                "source": {
                    "description": "api: made by PUT; code: declared by @action(cron=...)",
                    "type": "string",
                    "enum": ["api", "code"],
                },
                "next_fire_at": {**moment, "description": "Unix seconds; null when disabled"},
                "last_fire_at": moment,
                "last_task_id": {"type": "string", "nullable": True},
                "created_at": {"type": "number"},
                "updated_at": {"type": "number"},
            },
        },
        "ScheduleList": {
            "type": "object",
            "required": ["schedules"],
            "properties": {"schedules": {"type": "array", "items": ref("Schedule")}},
        },
        "Deleted": {
            "type": "object",
            "required": ["name", "deleted"],
            "properties": {"name": {"type": "string"}, "deleted": {"type": "boolean"}},
        },
        "Triggered": {
            "type": "object",
            "required": ["id", "status", "schedule"],
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "status": {"type": "string", "enum": ["queued"]},
                "schedule": {"type": "string"},
            },
        },
    }


def delivery_schemas() -> dict[str, Any]:
    return {
        "DeliveryList": {
            "type": "object",
            "required": ["deliveries"],
            "properties": {
                "deliveries": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["id", "url", "event", "state", "tries", "created_at"],
                        "properties": {
                            "id": {"description": "Its webhook-id header", "type": "string"},
                            "url": {"type": "string"},
                            "event": {"type": "string", "enum": [str(s) for s in FINISHED]},
                            "state": {"type": "string", "enum": list(DELIVERY_STATES)},
                            "tries": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["at", "status_code", "latency_ms", "error"],
                                    "properties": {
                                        "at": {"type": "number"},
                                        "status_code": {"type": "integer", "nullable": True},
                                        "latency_ms": {"type": "number"},
                                        "error": {"type": "string", "nullable": True},
                                    },
                                },
                            },
                            "created_at": {"type": "number"},
                            "next_try_at": {"type": "number", "nullable": True},
                            "finished_at": {"type": "number", "nullable": True},
                        },
                    },
                }
            },
        }
    }
