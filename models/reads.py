"""The store's reads: one task, listings, counts, queues and the events of a task.
Part of ``Store``."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import orjson

from .errors import TaskNotFound
from .statuses import CLAIMABLE, STATUSES, WAITING, Status, sql_list
from .task import VIEW_FIELDS, Task

if TYPE_CHECKING:
    from .store import Store

# API field → column, where they differ
_COLUMN_OF = {"timeout": "timeout_seconds"}
_VIEW_COLUMNS = tuple(getattr(Task, _COLUMN_OF.get(name, name)) for name in VIEW_FIELDS)
_ACTIVE = (*WAITING, Status.RUNNING)
PRIORITIES = range(10)


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
        """Newest first (``created_at``, then acceptance order), as views (``VIEW_FIELDS``)."""
        query = Task.select(*_VIEW_COLUMNS)
        if status is not None:
            query = query.where(Task.status == status.value)
        query = query.order_by(Task.created_at.desc(), Task.enqueued_ns.desc()).limit(limit)
        return [view_of(row) for row in query.tuples()]

    def get_task(self: Store, task_id: str) -> dict[str, Any]:
        """One task's view; raises ``TaskNotFound``."""
        if "\x00" in task_id:  # no id holds one, and PostgreSQL refuses it in a query
            raise TaskNotFound("task not found")
        rows = list(Task.select(*_VIEW_COLUMNS).where(Task.id == task_id).tuples())
        if not rows:
            raise TaskNotFound("task not found")
        return view_of(rows[0])

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

        Waiting and running tasks are counted on their (partial) indexes;
        finished ones come from the counts kept as they finish.
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
        now = time.time() if now is None else now
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
        return None if oldest is None else max(0.0, now - oldest)

    def events_of(self: Store, task_id: str) -> list[dict[str, Any]]:
        """The events of one task, oldest first."""
        cursor = self.db.execute_sql(
            f"SELECT at, kind, detail FROM task_events WHERE task_id = {self.db.param} ORDER BY id",
            (task_id,),
        )
        return [
            {"at": at, "kind": kind, **({} if detail is None else orjson.loads(detail))}
            for at, kind, detail in cursor.fetchall()
        ]
