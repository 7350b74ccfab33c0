"""The OpenAPI 3 description of the API, served at /openapi.json."""

from __future__ import annotations

from typing import Any

from models import STATUSES

from .config import WebConfig
from .validation import MAX_ACTION_LENGTH, MAX_BATCH_TASKS, MAX_LIST_LIMIT


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def build_document(config: WebConfig) -> dict[str, Any]:
    submission = {"$ref": "#/components/schemas/TaskSubmission"}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "taskqueue",
            "version": "1",
            "description": "A durable REST task queue: a 202 means the task is committed.",
        },
        "paths": {
            "/tasks": {
                "post": {
                    "summary": "Queue one task, or up to 1,000 at once (all or nothing)",
                    "operationId": "queueTasks",
                    "requestBody": {
                        "required": True,
                        "description": f"At most {config.max_body_bytes} bytes.",
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
                    "responses": {
                        "202": {
                            "description": "Committed to the database, queued",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "oneOf": [
                                            {"$ref": "#/components/schemas/Accepted"},
                                            {"$ref": "#/components/schemas/AcceptedBatch"},
                                        ]
                                    }
                                }
                            },
                        },
                        "400": _error("Invalid JSON or an invalid task; nothing stored"),
                        "413": _error("Body too large"),
                        "415": _error("Content-Type is not JSON"),
                        "503": _error("Database unavailable or queue full; see Retry-After"),
                    },
                },
                "get": {
                    "summary": "List tasks, newest first",
                    "operationId": "listTasks",
                    "parameters": [
                        {
                            "name": "status",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string", "enum": list(STATUSES)},
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
                    "responses": {
                        "200": {
                            "description": "The tasks",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/TaskList"}
                                }
                            },
                        },
                        "400": _error("Bad status or limit"),
                        "503": _error("Database unavailable"),
                    },
                },
            },
            "/tasks/{id}": {
                "get": {
                    "summary": "One task",
                    "operationId": "getTask",
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {
                        "200": {
                            "description": "The task",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Task"}
                                }
                            },
                        },
                        "404": _error("No such task"),
                        "503": _error("Database unavailable"),
                    },
                },
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "operationId": "openapi",
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3 document",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                },
            },
        },
        "components": {
            "schemas": {
                "TaskSubmission": {
                    "type": "object",
                    "required": ["action"],
                    "additionalProperties": False,
                    "properties": {
                        "action": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": MAX_ACTION_LENGTH,
                        },
                        "data": {"type": "object", "nullable": True},
                    },
                },
                "Accepted": {
                    "type": "object",
                    "required": ["id", "status"],
                    "properties": {
                        "id": {"type": "string", "format": "uuid"},
                        "status": {"type": "string", "enum": ["queued"]},
                    },
                },
                "AcceptedBatch": {
                    "type": "object",
                    "required": ["tasks", "count"],
                    "properties": {
                        "tasks": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Accepted"},
                        },
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
                        "attempts",
                        "created_at",
                        "processed_at",
                        "node",
                    ],
                    "properties": {
                        "id": {"type": "string"},
                        "action": {"type": "string"},
                        "payload": {"type": "object"},
                        "status": {"type": "string", "enum": list(STATUSES)},
                        "result": {"nullable": True},
                        "error": {"type": "string", "nullable": True},
                        "attempts": {"type": "integer", "minimum": 0},
                        "created_at": {"type": "integer"},
                        "processed_at": {"type": "integer", "nullable": True},
                        "node": {"type": "string", "nullable": True},
                    },
                },
                "TaskList": {
                    "type": "object",
                    "required": ["tasks", "count"],
                    "properties": {
                        "tasks": {"type": "array", "items": {"$ref": "#/components/schemas/Task"}},
                        "count": {"type": "integer"},
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}},
                },
            }
        },
    }
