"""Parsing and checking request bodies and query strings; raises ``InvalidInput``."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import orjson

from models import STATUSES, InvalidInput, Status

MAX_ACTION_LENGTH = 200
MAX_BATCH_TASKS = 1000
DEFAULT_LIST_LIMIT = 100
MAX_LIST_LIMIT = 1000
TASK_FIELDS = (
    "action",
    "data",
    "run_at",
    "delay",
    "priority",
    "queue",
    "max_attempts",
    "timeout",
    "idempotency_key",
    "notify",
)
MAX_NOTIFY_URL_LENGTH = 2048
MAX_IDEMPOTENCY_KEY_LENGTH = 255
MAX_WAIT_SECONDS = 60.0
MAX_PRIORITY = 9  # priorities are 0 (first) to 9
MAX_ATTEMPTS = 100
MAX_TIMEOUT_SECONDS = 86_400.0
MAX_DELAY_SECONDS = 10 * 366 * 86_400.0  # ten years
MAX_RUN_AT = 253_402_300_799.0  # 9999-12-31T23:59:59Z
QUEUE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")

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
    # orjson took the body, so it is UTF-8 without a byte order mark.
    decoder = _CHECK_EVERYTHING if _LONG_DIGITS.search(body) else _CHECK_KEYS
    try:
        decoder.decode(body.decode())
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
    made = dict(pairs)
    if len(made) != len(pairs):
        keys = [key for key, _ in pairs]
        repeated = next(key for key in keys if keys.count(key) > 1)
        raise InvalidInput(f"invalid JSON: key {repeated!r} appears more than once")
    return made


# An integer of 18 digits or fewer is within 64 bits: only a body with a longer run of
# digits (in a number, or anywhere) needs each integer checked, which costs a call each.
_LONG_DIGITS = re.compile(rb"[0-9]{19}")
_CHECK_KEYS = json.JSONDecoder(object_pairs_hook=_refuse_repeated_keys)
_CHECK_EVERYTHING = json.JSONDecoder(
    object_pairs_hook=_refuse_repeated_keys, parse_int=_int_within_64_bits
)


@dataclass(frozen=True)
class TaskInput:
    """One task as submitted and checked: ``options`` holds the optional fields given,
    as ``TaskOptions`` names them (an
    ``idempotency_key`` with the ``request_hash`` of what was asked with it)."""

    action: str
    data: dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)


def request_hash(item: dict[str, Any]) -> str:
    """What a task submission asks for, whatever its key order: its fields but the key."""
    asked = {name: value for name, value in item.items() if name != "idempotency_key"}
    return hashlib.sha256(orjson.dumps(asked, option=orjson.OPT_SORT_KEYS)).hexdigest()


def check_idempotency_key(value: Any, name: str = "idempotency_key") -> str:
    """1 to 255 printable ASCII characters (a quoted one, as the draft writes it, is
    taken without its quotes)."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= MAX_IDEMPOTENCY_KEY_LENGTH
        or not all(" " <= char <= "~" for char in value)
    ):
        raise InvalidInput(f"{name} must be 1 to 255 printable ASCII characters")
    return value


def check_wait(value: str | None) -> float:
    if value is None:
        return 0.0
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= MAX_WAIT_SECONDS:
        raise InvalidInput(f"wait must be a number of seconds from 0 to {MAX_WAIT_SECONDS:g}")
    return seconds


def check_task(item: Any) -> TaskInput:
    """One task object, every field checked; an error names the field."""
    if not isinstance(item, dict):
        raise InvalidInput("a task must be a JSON object")
    unknown = sorted(set(item) - set(TASK_FIELDS))
    if unknown:
        raise InvalidInput(
            f"unknown field {unknown[0]!r}; a task has only {', '.join(map(repr, TASK_FIELDS))}"
        )
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
    return TaskInput(action, data, _options(item))


def _options(item: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if "run_at" in item and "delay" in item:
        raise InvalidInput("run_at and delay: give one of them, not both")
    if "run_at" in item:
        options["run_at"] = check_run_at(item["run_at"])
    if "delay" in item:
        options["delay"] = _number(item["delay"], "delay", 0, MAX_DELAY_SECONDS)
    if "priority" in item:
        options["priority"] = _integer(item["priority"], "priority", 0, MAX_PRIORITY)
    if "queue" in item:
        options["queue"] = check_queue_name(item["queue"], "queue")
    if "max_attempts" in item:
        options["max_attempts"] = _integer(item["max_attempts"], "max_attempts", 1, MAX_ATTEMPTS)
    if "timeout" in item:
        timeout = _number(item["timeout"], "timeout", 0, MAX_TIMEOUT_SECONDS)
        options["timeout_seconds"] = timeout or None  # 0: no limit
    if "idempotency_key" in item:
        options["idempotency_key"] = check_idempotency_key(item["idempotency_key"])
        options["request_hash"] = request_hash(item)
    if "notify" in item:
        options["notify_url"] = check_notify(item["notify"])
    return options


def check_notify(value: Any, name: str = "notify") -> str:
    """``{"url": "https://…"}``: where the task is POSTed when it ends; returns the URL.

    Only its form is checked here; where it leads is checked when it is sent
    (after DNS resolution, which may change meanwhile).
    """
    if not isinstance(value, dict) or set(value) != {"url"}:
        raise InvalidInput(f'{name} must be an object {{"url": "https://…"}}')
    url = value["url"]
    problem = (
        f"{name}.url must be an http or https URL of at most {MAX_NOTIFY_URL_LENGTH} characters"
    )
    if not isinstance(url, str) or not 1 <= len(url) <= MAX_NOTIFY_URL_LENGTH:
        raise InvalidInput(problem)
    if not url.isascii() or any(char <= " " or char == "\x7f" for char in url):
        raise InvalidInput(f"{name}.url must be ASCII, without spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise InvalidInput(problem) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(problem)
    return url


def check_run_at(value: Any) -> float:
    """Unix seconds (a number), or an RFC 3339 date-time string with an offset."""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise InvalidInput(
                "run_at must be Unix seconds or an RFC 3339 date-time such as "
                "2026-12-01T09:30:00+01:00"
            ) from exc
        if moment.tzinfo is None:
            raise InvalidInput("run_at needs an offset, e.g. Z or +01:00")
        try:
            value = moment.timestamp()
        except (OverflowError, OSError, ValueError) as exc:
            raise InvalidInput("run_at is out of range") from exc
    return _number(value, "run_at", 0, MAX_RUN_AT)


def check_queue_name(value: Any, name: str = "queue") -> str:
    if not isinstance(value, str) or not QUEUE_NAME.fullmatch(value):
        raise InvalidInput(f"{name} must be 1 to 64 characters of A-Z, a-z, 0-9, '_', '.', '-'")
    return value


def _integer(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{name} must be an integer from {low} to {high}")
    return value


def _number(value: Any, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{name} must be a number")
    if not low <= value <= high:  # NaN fails this too
        raise InvalidInput(f"{name} must be from {_plain(low)} to {_plain(high)}")
    return float(value)


def _plain(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def check_batch(
    items: list[Any],
    make: Callable[[TaskInput], T] = lambda task: task,
) -> list[T]:
    """A JSON array of tasks, all valid or none: ``make(task)`` of each, in order; the
    error of the first bad one (from ``check_task`` or ``make``) names its index."""
    if not items:
        raise InvalidInput("a batch needs at least one task")
    if len(items) > MAX_BATCH_TASKS:
        raise InvalidInput(f"a batch holds at most {MAX_BATCH_TASKS} tasks")
    made = []
    for index, item in enumerate(items):
        try:
            made.append(make(check_task(item)))
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
