"""The Task model and its state transitions.

    queued ──claim──▶ running ──complete──▶ completed
       ▲                 │
       │ release/rescue  ├──fail──▶ retrying ──claim──▶ running …
       └─────────────────┘   └─(attempts ≥ max)──▶ dead

A row is written as ``queued`` before the client hears 202 and is never
deleted on claim. Each transition is one atomic statement (a batch is one
transaction) and finishing a task is fenced by its claim: every claim writes
a fresh ``claim_token``, and only the holder of the current token can
complete, fail or release that attempt. A task rescued from a presumed-dead
process and claimed again cannot be finished by the old holder as well.

The hot paths use hand-written SQL through Peewee's connection, because the
partial indexes the migration creates are matched against literal status
values, and because ``FOR UPDATE SKIP LOCKED`` is PostgreSQL's alone.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from peewee import (
    BigIntegerField,
    FloatField,
    IntegerField,
    Model,
    TextField,
    fn,
)

from .database import database, is_postgresql, write_transaction
from .errors import TaskNotFound

QUEUED = "queued"
RUNNING = "running"
COMPLETED = "completed"
RETRYING = "retrying"
DEAD = "dead"
STATUSES = (QUEUED, RUNNING, COMPLETED, RETRYING, DEAD)

RETRY_JITTER_FRACTION = 0.25  # a retry waits its backoff plus up to 25 % more
PG_NOTIFY_CHANNEL = "taskqueue_new_tasks"
INSERT_CHUNK_ROWS = 500  # well under SQLite's 32,766 bound parameters


class Task(Model):
    id = TextField(primary_key=True)
    payload = TextField()  # the task as submitted: id, action, data, created_at (JSON)
    status = TextField(default=QUEUED)
    result = TextField(null=True)  # JSON
    created_at = BigIntegerField()  # unix seconds, as in the reference
    processed_at = BigIntegerField(null=True)  # unix seconds of completion or death
    action = TextField()
    error = TextField(null=True)
    attempts = IntegerField(default=0)  # attempts started, the current one included
    enqueued_ns = BigIntegerField()  # acceptance order: unix ns, strictly increasing per process
    run_at = FloatField()  # unix seconds when the task is next due
    lease_owner = TextField(null=True)  # the process (host:pid) that holds the running attempt
    lease_expires_at = FloatField(null=True)  # unix seconds
    node = TextField(null=True)  # the node that ran (or runs) the latest attempt
    claim_token = TextField(null=True)  # fences the running attempt; new at every claim

    class Meta:
        database = database
        table_name = "tasks"


@dataclass(frozen=True)
class ClaimedTask:
    """One attempt handed to this process: what a worker needs to run it."""

    id: str
    action: str
    data: dict[str, Any]
    attempts: int
    token: str  # the claim's fence: finishing this attempt requires it


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


def new_task(action: str, data: dict[str, Any], now_ns: int | None = None) -> dict[str, Any]:
    """Build the row for a task accepted at ``now_ns``; nothing is written yet."""
    if now_ns is None:
        now_ns = time.time_ns()
    # Ordering uses the strictly increasing clock; due time and created_at use
    # the real one, so a clock stepped back never leaves new tasks not yet due.
    enqueued_ns = _acceptance_clock.next(now_ns)
    task_id = str(uuid.uuid4())
    created_at = now_ns // 1_000_000_000
    payload = {"id": task_id, "action": action, "data": data, "created_at": created_at}
    return {
        "id": task_id,
        "payload": orjson.dumps(payload).decode(),
        "status": QUEUED,
        "created_at": created_at,
        "action": action,
        "attempts": 0,
        "enqueued_ns": enqueued_ns,
        "run_at": now_ns / 1e9,
    }


_INSERT_COLUMNS = (
    "id",
    "payload",
    "status",
    "created_at",
    "action",
    "attempts",
    "enqueued_ns",
    "run_at",
)


def enqueue(rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (from ``new_task``) as ``queued`` in one transaction.

    When this returns, the rows are committed. On PostgreSQL the same
    transaction notifies every node's listener, so idle nodes wake at once.
    """
    db = database.obj
    row_marks = "(" + ", ".join([db.param] * len(_INSERT_COLUMNS)) + ")"
    with write_transaction():
        for start in range(0, len(rows), INSERT_CHUNK_ROWS):
            chunk = rows[start : start + INSERT_CHUNK_ROWS]
            # One multi-row INSERT per chunk, built by hand: Peewee's query
            # builder spent ~150 µs per row here, more than the commit.
            db.execute_sql(
                f"INSERT INTO tasks ({', '.join(_INSERT_COLUMNS)}) VALUES "
                + ", ".join([row_marks] * len(chunk)),
                [row[column] for row in chunk for column in _INSERT_COLUMNS],
            )
        if is_postgresql(db):
            db.execute_sql("SELECT pg_notify(%s, '')", (PG_NOTIFY_CHANNEL,))


def claim(owner: str, node: str, limit: int, now: float, lease_seconds: float) -> list[ClaimedTask]:
    """Atomically move up to ``limit`` due tasks to ``running`` under ``owner``'s lease.

    One statement. On PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets every node
    claim concurrently without ever taking the same row; on SQLite the
    statement runs under the database's single write lock. The attempt
    counter goes up here, so an attempt counts even if the process dies
    while running it. Returned oldest-due first.
    """
    if limit <= 0:
        return []
    db = database.obj
    p = db.param
    if is_postgresql(db):
        source, lock = "tasks", " FOR UPDATE SKIP LOCKED"
    else:
        # Without statistics SQLite prefers the status index and sorts the whole
        # backlog on every claim; the partial index reads just LIMIT rows.
        source, lock = "tasks INDEXED BY tasks_due", ""
    token = uuid.uuid4().hex
    with write_transaction():
        cursor = db.execute_sql(
            f"UPDATE tasks SET status = 'running', attempts = attempts + 1, claim_token = {p}, "
            f"lease_owner = {p}, node = {p}, lease_expires_at = {p} "
            f"WHERE id IN (SELECT id FROM {source} "
            f"WHERE status IN ('queued', 'retrying') AND run_at <= {p} "
            f"ORDER BY run_at, enqueued_ns LIMIT {p}{lock}) "
            f"RETURNING id, action, payload, attempts, run_at, enqueued_ns",
            (token, owner, node, now + lease_seconds, now, limit),
        )
        rows = sorted(cursor.fetchall(), key=lambda row: (row[4], row[5]))
    return [
        ClaimedTask(
            id=row[0],
            action=row[1],
            data=orjson.loads(row[2])["data"],
            attempts=row[3],
            token=token,
        )
        for row in rows
    ]


_FENCE = "WHERE id = {p} AND status = 'running' AND claim_token = {p}"
_END_LEASE = "lease_owner = NULL, lease_expires_at = NULL, claim_token = NULL"


def complete_many(finished: Sequence[tuple[ClaimedTask, str]], now: float) -> int:
    """Mark each ``(claimed_task, result_json)`` completed, in one transaction.

    Fenced by the claim: a task that was taken back and claimed again since
    is left alone. Returns the number of rows completed.
    """
    if not finished:
        return 0
    db = database.obj
    p = db.param
    sql = (
        f"UPDATE tasks SET status = 'completed', result = {p}, error = NULL, "
        f"processed_at = {p}, {_END_LEASE} {_FENCE.format(p=p)}"
    )
    processed_at = int(now)
    done = 0
    with write_transaction():
        for task, result_json in finished:
            done += db.execute_sql(sql, (result_json, processed_at, task.id, task.token)).rowcount
    return done


def storable_text(text: str) -> str:
    """``text`` as every backend can store it: PostgreSQL refuses U+0000 in text."""
    return text.replace("\x00", "\\x00")


def retry_delay_seconds(
    attempts: int, backoff_seconds: float, rng: random.Random | None = None
) -> float:
    """``backoff * 2^(attempts-1)``, plus up to ``RETRY_JITTER_FRACTION`` of it at random."""
    base = backoff_seconds * 2 ** (attempts - 1)
    return base * (1 + RETRY_JITTER_FRACTION * (rng or random).random())


def fail(
    task: ClaimedTask,
    error: str,
    now: float,
    max_attempts: int,
    backoff_seconds: float,
    rng: random.Random | None = None,
) -> str | None:
    """Record a failed attempt: ``retrying`` after a backoff, or ``dead`` at ``max_attempts``.

    Fenced like ``complete_many``. Returns the new status, or None when the
    claim was lost and nothing changed.
    """
    db = database.obj
    p = db.param
    fence = _FENCE.format(p=p)
    error = storable_text(error)
    if task.attempts >= max_attempts:
        status = DEAD
        sql = f"UPDATE tasks SET status = 'dead', error = {p}, processed_at = {p}, {_END_LEASE} "
        params = (error, int(now), task.id, task.token)
    else:
        status = RETRYING
        run_at = now + retry_delay_seconds(task.attempts, backoff_seconds, rng)
        sql = f"UPDATE tasks SET status = 'retrying', error = {p}, run_at = {p}, {_END_LEASE} "
        params = (error, run_at, task.id, task.token)
    with write_transaction():
        changed = db.execute_sql(sql + fence, params).rowcount
    return status if changed else None


def release(tasks: Sequence[ClaimedTask]) -> int:
    """Give back claimed attempts that never started, in one transaction.

    The attempt is refunded and the task is due at once (``retrying`` if an
    earlier attempt failed, else ``queued``). Used for prefetched tasks of a
    crashed worker and at graceful shutdown. Fenced like ``complete_many``.
    """
    if not tasks:
        return 0
    db = database.obj
    p = db.param
    sql = (
        f"UPDATE tasks SET status = CASE WHEN attempts > 1 THEN 'retrying' ELSE 'queued' END, "
        f"attempts = attempts - 1, {_END_LEASE} {_FENCE.format(p=p)}"
    )
    released = 0
    with write_transaction():
        for task in tasks:
            released += db.execute_sql(sql, (task.id, task.token)).rowcount
    return released


def heartbeat(owner: str, task_ids: Sequence[str], now: float, lease_seconds: float) -> int:
    """Extend ``owner``'s lease on the running tasks it still holds."""
    if not task_ids:
        return 0
    db = database.obj
    p = db.param
    marks = ", ".join([p] * len(task_ids))
    with write_transaction():
        return db.execute_sql(
            f"UPDATE tasks SET lease_expires_at = {p} "
            f"WHERE status = 'running' AND lease_owner = {p} AND id IN ({marks})",
            (now + lease_seconds, owner, *task_ids),
        ).rowcount


def rescue(now: float, max_attempts: int, dead_owners: Sequence[str] = ()) -> list[tuple[str, str]]:
    """Take back running tasks whose lease expired or whose owner is known dead.

    One statement. The interrupted attempt counts: a task that has used
    ``max_attempts`` goes to ``dead`` (this is how a task that kills its
    process every time ends), the rest are ``queued`` and due at once.
    Returns ``(task_id, new_status)`` pairs.
    """
    db = database.obj
    p = db.param
    owners = ""
    if dead_owners:
        owners = f" OR lease_owner IN ({', '.join([p] * len(dead_owners))})"
    with write_transaction():
        cursor = db.execute_sql(
            f"UPDATE tasks SET "
            f"status = CASE WHEN attempts >= {p} THEN 'dead' ELSE 'queued' END, "
            f"processed_at = CASE WHEN attempts >= {p} THEN {p} ELSE processed_at END, "
            f"error = 'attempt ' || CAST(attempts AS TEXT) || ' interrupted: ' "
            f"|| lease_owner || ' died or its lease expired', "
            f"run_at = {p}, {_END_LEASE} "
            f"WHERE status = 'running' AND (lease_expires_at < {p}{owners}) "
            f"RETURNING id, status",
            (max_attempts, max_attempts, int(now), now, now, *dead_owners),
        )
        return [(row[0], row[1]) for row in cursor.fetchall()]


def lease_owners() -> list[str]:
    """The processes that hold running tasks now."""
    cursor = database.obj.execute_sql(
        "SELECT DISTINCT lease_owner FROM tasks WHERE status = 'running'"
    )
    return [row[0] for row in cursor.fetchall() if row[0] is not None]


_VIEW_COLUMNS = (
    Task.id,
    Task.action,
    Task.payload,
    Task.status,
    Task.result,
    Task.error,
    Task.attempts,
    Task.created_at,
    Task.processed_at,
    Task.node,
)
VIEW_FIELDS = tuple(column.name for column in _VIEW_COLUMNS)


def list_tasks(status: str | None = None, limit: int = 100) -> list[tuple]:
    """Newest first (``created_at``, then acceptance order), as ``VIEW_FIELDS`` tuples.

    ``payload`` and ``result`` are JSON text.
    """
    query = Task.select(*_VIEW_COLUMNS)
    if status is not None:
        query = query.where(Task.status == status)
    query = query.order_by(Task.created_at.desc(), Task.enqueued_ns.desc()).limit(limit)
    return list(query.tuples())


def get_task(task_id: str) -> tuple:
    """One task as a ``VIEW_FIELDS`` tuple; raises ``TaskNotFound``."""
    rows = list(Task.select(*_VIEW_COLUMNS).where(Task.id == task_id).tuples())
    if not rows:
        raise TaskNotFound("task not found")
    return rows[0]


def count_backlog() -> int:
    """Tasks waiting to be claimed (``queued`` or ``retrying``), counted on the claim index."""
    cursor = database.obj.execute_sql(
        "SELECT COUNT(*) FROM tasks WHERE status IN ('queued', 'retrying')"
    )
    return cursor.fetchone()[0]


def count_by_status() -> dict[str, int]:
    query = Task.select(Task.status, fn.COUNT(Task.id)).group_by(Task.status).tuples()
    counts = dict.fromkeys(STATUSES, 0)
    counts.update(dict(query))
    return counts
