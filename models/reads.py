"""The store's reads: one task, pages of tasks, counts, queues, the history of a task,
the counts by minute. Part of ``Store``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from . import clock
from .errors import TaskNotFound
from .ids import created_at_of
from .statuses import CLAIMABLE, STATUSES, WAITING, Status, sql_list
from .task import VIEW_FIELDS, Task

if TYPE_CHECKING:
    from .store import Store

# API field → column, where they differ
_COLUMN_OF = {"timeout": "timeout_seconds"}
_VIEW_COLUMNS = tuple(getattr(Task, _COLUMN_OF.get(name, name)) for name in VIEW_FIELDS)
_ACTIVE = (*WAITING, Status.RUNNING)
PRIORITIES = range(10)
LISTED_TEXT_CHARS = 4096  # a listing cuts payload, result and error past this; one task does not
DEAD_LETTER_SCAN = 10_000  # dead-letter groups are made of the latest this many dead tasks
_CUT = ("payload", "result", "error")
_ORDER = "created_at DESC, enqueued_ns DESC"


@dataclass(frozen=True)
class TaskQuery:
    """Which tasks a page lists, newest first; every field narrows it (None: any)."""

    statuses: tuple[Status, ...] = ()  # empty: any status
    queue: str | None = None
    action: str | None = None
    created_after: int | None = None  # unix seconds, inclusive
    created_before: int | None = None  # unix seconds, exclusive
    limit: int = 100
    after: tuple[int, int] | None = None  # the (created_at, enqueued_ns) a page goes on after


@dataclass(frozen=True)
class Page:
    tasks: list[dict[str, Any]]
    next: tuple[int, int] | None  # where the next page starts; None when there is nothing older


class CutText(str):
    """The first ``LISTED_TEXT_CHARS`` of a longer value: plain text, even where the
    whole value is JSON (a cut one no longer parses)."""


def view_of(row: tuple) -> dict[str, Any]:
    """A task row (``_VIEW_COLUMNS``) as the API shows it; ``payload``, ``result`` and
    ``progress`` stay JSON text."""
    task = dict(zip(VIEW_FIELDS, row, strict=True))
    task["cancel_requested"] = bool(task["cancel_requested"])
    return task


class ReadsMixin:
    def list_tasks(
        self: Store, status: Status | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """The first page of one status (or of all), as views."""
        statuses = () if status is None else (status,)
        return self.list_page(TaskQuery(statuses=statuses, limit=limit)).tasks

    def list_page(self: Store, query: TaskQuery) -> Page:
        """A page of tasks, newest first (``created_at``, then acceptance order).

        Every filter reads an index led by it and then by the status, one
        range per status, each read at most ``limit`` rows deep, so a page
        costs the same at any table size and however the rows are spread
        among the statuses. With no filter, a store that keeps an index on
        creation time alone reads one range of it (``pages_by_creation_index``).
        Paging goes on after the last row of the previous page, so tasks
        arriving meanwhile (newer) never shift it: no task is shown twice or
        skipped. ``payload``, ``result`` and ``error`` longer than
        ``LISTED_TEXT_CHARS`` are cut (and the task says ``truncated``), so a
        page of big tasks stays small; ``get_task`` gives them whole.
        """
        sql, params = self._page_sql(query)
        rows = self.db.execute_sql(sql, params).fetchall()
        tasks = [self._listed(row) for row in rows[: query.limit]]
        more = len(rows) > query.limit
        last = rows[query.limit - 1] if more else None
        return Page(tasks, None if last is None else (last[-2], last[-1]))

    def _page_sql(self: Store, query: TaskQuery) -> tuple[str, list]:
        p = self.db.param
        columns = ", ".join(
            f"substr({name}, 1, {LISTED_TEXT_CHARS + 1}) AS {name}"
            if name in _CUT
            else _COLUMN_OF.get(name, name)
            for name in VIEW_FIELDS
        )
        columns += ", created_at AS page_created, enqueued_ns AS page_enqueued"
        where: list[str] = []
        params: list = []
        if query.created_after is not None:
            where.append(f"created_at >= {p}")
            params.append(query.created_after)
        if query.created_before is not None:
            where.append(f"created_at < {p}")
            params.append(query.created_before)
        if query.after is not None:
            where.append(f"(created_at, enqueued_ns) < ({p}, {p})")
            params += list(query.after)
        fetch = query.limit + 1  # one more: is there a next page?
        filtered = query.queue is not None or query.action is not None or bool(query.statuses)
        if not filtered and self.pages_by_creation_index:
            sql = (
                f"SELECT {columns} FROM tasks {self.index_hint('tasks_created')} "
                f"{_where(where)} ORDER BY {_ORDER} LIMIT {fetch}"
            )
            return sql, params
        # One branch per status, each a range of an index led by the filter, then status.
        if query.queue is not None:
            index, lead, lead_value = "tasks_queue_created", "queue", query.queue
            if query.action is not None:
                where.append(f"action = {p}")
                params.append(query.action)
        elif query.action is not None:
            index, lead, lead_value = "tasks_action_created", "action", query.action
        else:
            index, lead, lead_value = "tasks_status_created", None, None
        branches = []
        branch_params: list = []
        for number, status in enumerate(query.statuses or STATUSES):
            conditions = [f"status = '{status}'", *where]
            if lead is not None:
                conditions.insert(0, f"{lead} = {p}")
            branches.append(
                f"SELECT * FROM (SELECT {columns} FROM tasks {self.index_hint(index)} "
                f"{_where(conditions)} ORDER BY {_ORDER} LIMIT {fetch}) AS branch{number}"
            )
            branch_params += ([lead_value] if lead is not None else []) + params
        sql = (
            f"SELECT * FROM ({' UNION ALL '.join(branches)}) AS page "
            f"ORDER BY page_created DESC, page_enqueued DESC LIMIT {fetch}"
        )
        return sql, branch_params

    def index_hint(self: Store, index: str) -> str:
        """What makes a query read ``index`` (nothing, where the planner chooses well)."""
        return ""

    @staticmethod
    def _listed(row: tuple) -> dict[str, Any]:
        task = view_of(row[:-2])
        cut = False
        for name in _CUT:
            value = task[name]
            if value is not None and len(value) > LISTED_TEXT_CHARS:
                task[name] = CutText(value[:LISTED_TEXT_CHARS])
                cut = True
        if cut:
            task["truncated"] = True
        return task

    def get_task(self: Store, task_id: str) -> dict[str, Any]:
        """One task's view, whole; raises ``TaskNotFound``."""
        if "\x00" in task_id:  # no id holds one, and PostgreSQL refuses it in a query
            raise TaskNotFound("task not found")
        rows = list(Task.select(*_VIEW_COLUMNS).where(Task.id == task_id).tuples())
        if not rows:
            raise TaskNotFound("task not found")
        return view_of(rows[0])

    def find_by_key(self: Store, idempotency_key: str) -> dict[str, Any] | None:
        """``{"id", "status", "request_hash"}`` of the task holding ``idempotency_key``."""
        cursor = self.db.execute_sql(
            f"SELECT id, status, request_hash FROM tasks WHERE idempotency_key = {self.db.param}",
            (idempotency_key,),
        )
        row = cursor.fetchone()
        return None if row is None else {"id": row[0], "status": row[1], "request_hash": row[2]}

    def accepted_status(self: Store, task_id: str) -> str:
        """What the task's acceptance answered: ``scheduled`` if it was due later, else
        ``queued`` (an idempotent replay answers the same)."""
        p = self.db.param
        row = self.db.execute_sql(
            f"SELECT 1 FROM task_events WHERE task_id = {p} AND kind = 'scheduled'", (task_id,)
        ).fetchone()
        return Status.SCHEDULED.value if row else Status.QUEUED.value

    def count_backlog(self: Store) -> int:
        """Tasks waiting to be claimed (``queued`` or ``retrying``), counted on the due index."""
        cursor = self.db.execute_sql(
            f"SELECT COUNT(*) FROM tasks WHERE status IN ({sql_list(CLAIMABLE)})"
        )
        return cursor.fetchone()[0]

    def count_by_status(self: Store) -> dict[Status, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for by_status in self.counts_by_queue().values():
            for status, count in by_status.items():
                counts[status] += count
        return counts

    def counts_by_queue(self: Store) -> dict[str, dict[Status, int]]:
        """Tasks by queue and status, without scanning finished tasks.

        Waiting and running tasks are counted on their indexes; finished
        ones come from the counts kept as they finish.
        """
        counts: dict[str, dict[Status, int]] = {}

        def add(queue: str, status: str, count: int) -> None:
            by_status = counts.setdefault(queue, dict.fromkeys(STATUSES, 0))
            by_status[Status(status)] += count

        cursor = self.db.execute_sql(
            f"SELECT queue, status, COUNT(*) FROM tasks WHERE status IN ({sql_list(_ACTIVE)}) "
            f"GROUP BY queue, status"
        )
        for queue, status, count in cursor.fetchall():
            add(queue, status, count)
        cursor = self.db.execute_sql(
            "SELECT queue, status, SUM(count) FROM finished_counts GROUP BY queue, status"
        )
        for queue, status, count in cursor.fetchall():
            add(queue, status, int(count))
        return counts

    def oldest_due_age(self: Store, queue: str, now: float | None = None) -> float | None:
        """Seconds since the longest-waiting due task of ``queue`` became due, or None.

        One index seek per priority on the due index.
        """
        now = self.database_now(clock.now() if now is None else now)
        oldest = self._oldest_due(queue, now)
        return None if oldest is None else max(0.0, now - oldest)

    def _oldest_due(self: Store, queue: str, now: float) -> float | None:
        p = self.db.param
        oldest = None
        for priority in PRIORITIES:
            cursor = self.db.execute_sql(
                f"SELECT MIN(run_at) FROM tasks WHERE status IN ({sql_list(CLAIMABLE)}) "
                f"AND queue = {p} AND priority = {p} AND run_at <= {p}",
                (queue, priority, now),
            )
            due = cursor.fetchone()[0]
            if due is not None and (oldest is None or due < oldest):
                oldest = due
        return oldest

    def events_of(self: Store, task_id: str, now: float | None = None) -> list[dict[str, Any]]:
        """The history of one task, oldest first; raises ``TaskNotFound``.

        The stored events, with two derived from what else is stored:
        ``created`` (the row's ``created_at``) and ``paused_while_due`` (each
        pause of its queue while it waited to be claimed).
        """
        task = self.get_task(task_id)
        p = self.db.param
        cursor = self.db.execute_sql(
            f"SELECT at, kind, detail FROM task_events WHERE task_id = {p} ORDER BY id", (task_id,)
        )
        stored = [
            {"at": at, "kind": kind, **({} if detail is None else orjson.loads(detail))}
            for at, kind, detail in cursor.fetchall()
        ]
        events = [{"at": _created_at(task), "kind": "created", "queue": task["queue"]}]
        events += self._paused_while_due(task, stored, clock.now() if now is None else now)
        events += stored
        events.sort(key=lambda event: event["at"])
        return events

    def _paused_while_due(
        self: Store, task: dict[str, Any], stored: list[dict[str, Any]], now: float
    ) -> list[dict[str, Any]]:
        """Pauses of the task's queue that overlap the time it waited, due, for a claim."""
        due_from = _created_at(task)
        for event in stored:
            if event["kind"] == "scheduled":
                due_from = max(due_from, event["run_at"])
        claimed = [event["at"] for event in stored if event["kind"] == "claimed"]
        due_until = claimed[0] if claimed else (task["processed_at"] or now)
        p = self.db.param
        cursor = self.db.execute_sql(
            f"SELECT at, kind, by FROM queue_events WHERE queue = {p} AND at <= {p} ORDER BY at",
            (task["queue"], due_until),
        )
        events, paused_at, paused_by = [], None, None
        for at, kind, by in [*cursor.fetchall(), (due_until, "end", None)]:
            if kind == "pause":
                paused_at, paused_by = at, by
                continue
            if paused_at is not None and at > due_from:
                start = max(paused_at, due_from)
                until = None if kind == "end" else at
                events.append(
                    {"at": start, "kind": "paused_while_due", "by": paused_by, "until": until}
                )
            paused_at = None
        return events

    def dead_letters(self: Store, scan: int = DEAD_LETTER_SCAN) -> dict[str, Any]:
        """The latest ``scan`` dead tasks grouped by action and error, the biggest group
        first: ``{"groups": [{"action", "error", "count", "latest_at", "sample_id"}],
        "scanned", "complete"}`` (``complete``: every dead task was scanned)."""
        p = self.db.param
        hint = self.index_hint("tasks_status_created")
        cursor = self.db.execute_sql(
            f"SELECT id, action, error, processed_at FROM tasks {hint} "
            f"WHERE status = '{Status.DEAD}' ORDER BY {_ORDER} LIMIT {p}",
            (scan + 1,),
        )
        rows = cursor.fetchall()
        complete = len(rows) <= scan
        groups: dict[tuple[str, str], dict[str, Any]] = {}
        for task_id, action, error, processed_at in rows[:scan]:
            group = groups.get((action, error))
            if group is None:
                groups[(action, error)] = group = {
                    "action": action,
                    "error": error,
                    "count": 0,
                    "latest_at": processed_at,
                    "sample_id": task_id,
                }
            group["count"] += 1
        ordered = sorted(
            groups.values(), key=lambda g: (-g["count"], g["action"], g["error"] or "")
        )
        return {"groups": ordered, "scanned": min(len(rows), scan), "complete": complete}

    def minute_counts(self: Store, since: float) -> list[dict[str, Any]]:
        """Per minute since ``since``, over every node: completed, failed, dead, and the
        wait from due to start (mean and max)."""
        p = self.db.param
        cursor = self.db.execute_sql(
            f"SELECT minute, SUM(completed), SUM(failed), SUM(dead), SUM(wait_sum), "
            f"SUM(wait_count), MAX(wait_max) FROM minute_stats WHERE minute >= {p} "
            f"GROUP BY minute ORDER BY minute",
            (int(since // 60) * 60,),
        )
        return [
            {
                "minute": int(minute),
                "completed": int(completed),
                "failed": int(failed),
                "dead": int(dead),
                "wait_mean_seconds": float(wait_sum) / int(wait_count) if wait_count else None,
                "wait_max_seconds": float(wait_max) if wait_count else None,
            }
            for minute, completed, failed, dead, wait_sum, wait_count, wait_max in cursor.fetchall()
        ]


def _where(conditions: list[str]) -> str:
    return f"WHERE {' AND '.join(conditions)}" if conditions else ""


def _created_at(task: dict[str, Any]) -> float:
    """When the task was accepted: its id's time, to the millisecond (the row's
    ``created_at`` is whole seconds, as in the reference), never after ``created_at``'s
    second; ``created_at`` itself for an id that tells no time."""
    whole = float(task["created_at"])
    precise = created_at_of(task["id"])
    return precise if precise is not None and whole <= precise < whole + 1 else whole
