"""The Task model, the rows that move in and out of the store, and how a new task is built."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import orjson
from peewee import BigIntegerField, DatabaseProxy, FloatField, IntegerField, Model, TextField

from . import clock
from .errors import InvalidInput
from .ids import new_task_id
from .statuses import Status

# Every model is bound to this proxy; ``open_store`` points it at a database.
database = DatabaseProxy()

DEFAULT_QUEUE = "default"


class Task(Model):
    id = TextField(primary_key=True)
    payload = TextField()  # the task as submitted: id, action, data, created_at (JSON)
    status = TextField(default=Status.QUEUED.value)  # a ``Status``; the database CHECKs it
    result = TextField(null=True)  # JSON
    created_at = BigIntegerField()  # unix seconds, as in the reference
    processed_at = BigIntegerField(null=True)  # unix seconds of completion or death
    action = TextField()
    error = TextField(null=True)  # the last failure, one line: "Type: message"
    traceback = TextField(null=True)  # the last frames of the last failure's traceback
    attempts = IntegerField(default=0)  # attempts started, the current one included
    enqueued_ns = BigIntegerField()  # acceptance order: unix ns, strictly increasing per process
    run_at = FloatField()  # unix seconds when the task is next due
    lease_owner = TextField(null=True)  # the process (host:pid) that holds the running attempt
    lease_expires_at = FloatField(null=True)  # unix seconds
    node = TextField(null=True)  # the node that ran (or runs) the latest attempt
    claim_token = TextField(null=True)  # fences the running attempt; new at every claim
    priority = IntegerField(default=0)  # 0 (first) to 9 among due tasks
    queue = TextField(default=DEFAULT_QUEUE)
    max_attempts = IntegerField(null=True)  # attempts before dead; raised by a retry by hand
    attempt_budget = IntegerField(null=True)  # max_attempts as submitted: a retry's fresh budget
    timeout_seconds = FloatField(null=True)  # how long one attempt may run; None: no limit
    cancel_requested = IntegerField(default=0)  # 1: cancel the running attempt when it ends
    progress = TextField(null=True)  # JSON {"fraction", "message", "at"} from the action
    idempotency_key = TextField(null=True)  # unique among tasks that have one
    request_hash = TextField(null=True)  # what the keyed request asked for (see ``request_hash``)
    notify_url = TextField(null=True)  # where its completion webhook goes; None: no webhook

    class Meta:
        database = database
        table_name = "tasks"


# What the API shows of a task, in this order; a view is a dict of these.
# ``payload`` and ``result`` are JSON text in a view.
VIEW_FIELDS = (
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
)


@dataclass(frozen=True)
class TaskOptions:
    """How a task is to run, beside its action and data (each already checked)."""

    max_attempts: int  # the caller resolves the default (--max-attempts)
    timeout_seconds: float | None = None  # None: no limit
    run_at: float | None = None  # unix seconds; None: ``delay`` from now
    delay: float = 0.0  # seconds from acceptance, when no run_at is given
    priority: int = 0
    queue: str = DEFAULT_QUEUE
    idempotency_key: str | None = None
    request_hash: str | None = None  # set with idempotency_key
    notify_url: str | None = None  # POST the task there when it ends (see ``webhooks``)


@dataclass(frozen=True)
class ClaimedTask:
    """One attempt handed to this process: what a worker needs to run it."""

    id: str
    action: str
    data: dict[str, Any]
    attempts: int
    token: str  # the claim's fence: finishing this attempt requires it
    queue: str = DEFAULT_QUEUE
    max_attempts: int | None = None  # None: the node's --max-attempts
    timeout_seconds: float | None = None  # None: no limit
    due_at: float | None = None  # unix seconds it was due when claimed


@dataclass(frozen=True)
class Failure:
    """What a failed attempt leaves on its task."""

    error: str  # one line, "Type: message"
    traceback: str | None = None  # the last frames, for the user's own debugging


@dataclass(frozen=True)
class Rescued:
    """A task the rescue took back from a dead or silent process, and where it went."""

    id: str
    status: Status


class _AcceptanceClock:
    """Unix nanoseconds, strictly increasing within this process.

    Two tasks accepted in the same nanosecond (or across a backwards clock
    step) still get distinct, ordered values, so listings are newest first by
    acceptance order even within one second.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0

    def next(self, now_ns: int) -> int:
        with self._lock:
            self._last = max(now_ns, self._last + 1)
            return self._last


_acceptance_clock = _AcceptanceClock()


def new_task(
    action: str,
    data: dict[str, Any],
    options: TaskOptions | None = None,
    now_ns: int | None = None,
) -> dict[str, Any]:
    """Build the row for a task accepted at ``now_ns``; nothing is written yet.

    It is ``scheduled`` when ``options.run_at`` is later than ``now_ns``,
    else ``queued``. Without ``options`` it runs in the default queue, at
    once, with ``max_attempts`` left to the node that runs it.

    Raises ``InvalidInput`` for what no backend could store: an action with
    U+0000 (PostgreSQL text cannot hold it), or data nested deeper than the
    JSON encoder writes (orjson parses 1,024 levels but writes only 254).
    """
    if "\x00" in action:
        raise InvalidInput("action must not contain the character U+0000")
    if now_ns is None:
        now_ns = clock.now_ns()
    # Ordering uses the strictly increasing clock; due time and created_at use
    # the real one, so a clock stepped back never leaves new tasks not yet due.
    enqueued_ns = _acceptance_clock.next(now_ns)
    task_id = new_task_id(now_ns)
    created_at = now_ns // 1_000_000_000
    payload = {"id": task_id, "action": action, "data": data, "created_at": created_at}
    try:
        payload_json = orjson.dumps(payload).decode()
    except orjson.JSONEncodeError as exc:
        raise InvalidInput("data nested too deeply") from exc
    now = now_ns / 1e9
    # A delay is kept as such as well, so that a backend whose clock decides due
    # times (PostgreSQL) counts it from its own now rather than from this node's.
    if options is not None and options.run_at is not None:
        run_at, due_in = options.run_at, None
    else:
        due_in = 0.0 if options is None else options.delay
        run_at = now + due_in
    max_attempts = None if options is None else options.max_attempts
    return {
        "id": task_id,
        "payload": payload_json,
        "status": (Status.SCHEDULED if run_at > now else Status.QUEUED).value,
        "created_at": created_at,
        "action": action,
        "attempts": 0,
        "enqueued_ns": enqueued_ns,
        "run_at": run_at,
        "due_in": due_in,
        "priority": 0 if options is None else options.priority,
        "queue": DEFAULT_QUEUE if options is None else options.queue,
        "max_attempts": max_attempts,
        "attempt_budget": max_attempts,
        "timeout_seconds": None if options is None else options.timeout_seconds,
        "idempotency_key": None if options is None else options.idempotency_key,
        "request_hash": None if options is None else options.request_hash,
        "notify_url": None if options is None else options.notify_url,
    }


def storable_text(text: str) -> str:
    """``text`` as every backend can store it: PostgreSQL refuses U+0000 in text."""
    return text.replace("\x00", "\\x00")
