"""The query of GET /tasks: filters, a page size and a cursor, checked; the cursor coded."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

import models

from .validation import check_limit, check_queue_name, check_run_at, check_status, single

LIST_PARAMS = ("status", "queue", "action", "created_after", "created_before", "cursor", "limit")


def task_query(query: dict[str, list[str]]) -> models.TaskQuery:
    """The ``TaskQuery`` a GET /tasks query string asks for; raises ``InvalidInput`` naming
    the parameter that is wrong. ``status`` may be repeated or comma-separated."""
    statuses: list[models.Status] = []
    for value in query.get("status", []):
        for name in value.split(","):
            status = check_status(name.strip())
            if status not in statuses:
                statuses.append(status)
    queue = single(query, "queue")
    action = single(query, "action")
    if action is not None and ("\x00" in action or not action):
        raise models.InvalidInput("action must be an action name")
    return models.TaskQuery(
        statuses=tuple(statuses),
        queue=None if queue is None else check_queue_name(queue),
        action=action,
        created_after=_moment(query, "created_after"),
        created_before=_moment(query, "created_before"),
        limit=check_limit(single(query, "limit")),
        after=decode_cursor(single(query, "cursor")),
    )


def _moment(query: dict[str, list[str]], name: str) -> int | None:
    value = single(query, name)
    if value is None:
        return None
    number: Any = value
    try:
        number = float(value)
    except ValueError:
        pass  # an RFC 3339 date-time, checked next
    try:
        return int(check_run_at(number))
    except models.InvalidInput as exc:
        raise models.InvalidInput(
            f"{name} must be Unix seconds or an RFC 3339 date-time with an offset"
        ) from exc


def encode_cursor(after: tuple[int, int] | None) -> str | None:
    if after is None:
        return None
    return base64.urlsafe_b64encode(orjson.dumps(list(after))).decode().rstrip("=")


def decode_cursor(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        value = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        value = None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise models.InvalidInput("cursor is not one this service gave")
    return value[0], value[1]
