"""Parsing and checking request bodies and query strings; raises ``InvalidInput``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import orjson

from models import STATUSES, InvalidInput, Status

MAX_ACTION_LENGTH = 200
MAX_BATCH_TASKS = 1000
DEFAULT_LIST_LIMIT = 100
MAX_LIST_LIMIT = 1000
TASK_FIELDS = ("action", "data")

T = TypeVar("T")


def parse_json(body: bytes) -> Any:
    """Strict JSON: UTF-8, no NaN or Infinity, no repeated keys, integers within
    64 bits, not nested too deeply (orjson stops at 1,024 levels, Python's
    parser a little sooner)."""
    if not body.strip():
        raise InvalidInput("invalid JSON")
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput("invalid JSON") from exc
    # orjson keeps the last of repeated keys and turns integers past 64 bits
    # into floats, silently changing what was sent. The standard parser,
    # run second, reports each object's pairs and each integer as written.
    try:
        json.loads(body, object_pairs_hook=_refuse_repeated_keys, parse_int=_int_within_64_bits)
    except RecursionError as exc:  # deeper than the standard parser goes
        raise InvalidInput("invalid JSON: nested too deeply") from exc
    return parsed


def _int_within_64_bits(text: str) -> int:
    if len(text) > 20:
        raise InvalidInput("invalid JSON: integer out of the 64-bit range")
    value = int(text)
    if not -(2**63) <= value < 2**64:
        raise InvalidInput("invalid JSON: integer out of the 64-bit range")
    return value


def _refuse_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        repeated = next(key for key in keys if keys.count(key) > 1)
        raise InvalidInput(f"invalid JSON: key {repeated!r} appears more than once")
    return dict(pairs)


def check_task(item: Any) -> tuple[str, dict[str, Any]]:
    """One task object → ``(action, data)``."""
    if not isinstance(item, dict):
        raise InvalidInput("a task must be a JSON object")
    unknown = sorted(set(item) - set(TASK_FIELDS))
    if unknown:
        raise InvalidInput(f"unknown field {unknown[0]!r}; a task has only 'action' and 'data'")
    action = item.get("action")
    if action is None or action == "":
        raise InvalidInput("action required")
    if not isinstance(action, str):
        raise InvalidInput("action must be a string")
    if len(action) > MAX_ACTION_LENGTH:
        raise InvalidInput(f"action must be at most {MAX_ACTION_LENGTH} characters")
    data = item.get("data")
    if data is None:
        data = {}
    elif not isinstance(data, dict):
        raise InvalidInput("data must be a JSON object")
    return action, data


def check_batch(
    items: list[Any], make: Callable[[str, dict[str, Any]], T] = lambda *task: task
) -> list[T]:
    """A JSON array of tasks, all valid or none: ``make(action, data)`` of each, in order;
    the error of the first bad one (from ``check_task`` or ``make``) names its index."""
    if not items:
        raise InvalidInput("a batch needs at least one task")
    if len(items) > MAX_BATCH_TASKS:
        raise InvalidInput(f"a batch holds at most {MAX_BATCH_TASKS} tasks")
    made = []
    for index, item in enumerate(items):
        try:
            made.append(make(*check_task(item)))
        except InvalidInput as exc:
            raise InvalidInput(f"task {index}: {exc}") from exc
    return made


def single(query: dict[str, list[str]], name: str) -> str | None:
    """The one value of query parameter ``name``, or None; repeating it is a 400."""
    values = query.get(name)
    if values is None:
        return None
    if len(values) > 1:
        raise InvalidInput(f"{name} may be given only once")
    return values[0]


def check_status(value: str | None) -> Status | None:
    if value is None:
        return None
    if value not in STATUSES:
        raise InvalidInput(f"status must be one of: {', '.join(STATUSES)}")
    return Status(value)


def check_limit(value: str | None) -> int:
    if value is None:
        return DEFAULT_LIST_LIMIT
    digits = value.isascii() and value.isdigit() and len(value) <= 6
    if not digits or not 1 <= int(value) <= MAX_LIST_LIMIT:
        raise InvalidInput(f"limit must be an integer from 1 to {MAX_LIST_LIMIT}")
    return int(value)
