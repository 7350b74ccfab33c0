"""Control by hand: cancel, retry and pause, one task, a list of them, or every task a
filter matches (in short batches). Part of ``Store``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import Conflict, InvalidInput, TaskNotFound
from .statuses import FINISHED, WAITING, Status

if TYPE_CHECKING:
    from .store import Store

BULK_BATCH_ROWS = 500  # tasks changed per transaction by a bulk cancel or retry
END_LEASE = "lease_owner = NULL, lease_expires_at = NULL, claim_token = NULL"
CANCELABLE = (*WAITING, Status.RUNNING)


@dataclass(frozen=True)
class TaskFilter:
    """Which tasks a bulk operation applies to; None matches anything."""

    status: Status | None = None
    queue: str | None = None
    action: str | None = None
    error: str | None = None  # the last error, exactly (a dead-letter group)


@dataclass(frozen=True)
class BulkResult:
    matched: int  # tasks found that the operation applies to (for ids: every id found)
    changed: int  # tasks whose state it changed


@dataclass(frozen=True)
class QueueState:
    name: str
    paused: bool
    paused_at: float | None
    paused_by: str | None


class ControlMixin:
    # Cancel ------------------------------------------------------------

    def cancel(self: Store, task_id: str, by: str, now: float) -> Status:
        """Cancel one task; return its status after.

        ``canceled`` when no attempt was running (it was scheduled, queued or
        retrying); ``running`` when one is: the task is marked
        ``cancel_requested`` and becomes canceled when that attempt ends,
        unless it completes. Raises ``TaskNotFound``, or ``Conflict`` naming
        the status of a task already finished.
        """
        with self.write_transaction():
            rows = self._locked(f"id = {self.db.param}", [task_id])
            if not rows:
                raise TaskNotFound("task not found")
            [(_, status, _)] = rows
            if status in FINISHED:
                raise Conflict(f"task is {status}")
            self._cancel_rows(rows, by, now)
        return Status.CANCELED if status in WAITING else Status.RUNNING

    def cancel_many(self: Store, task_ids: Sequence[str], by: str, now: float) -> BulkResult:
        """Cancel each task of ``task_ids`` that is not finished, in one transaction."""
        with self.write_transaction():
            rows = self._locked(self._id_list(task_ids), list(task_ids))
            changed = self._cancel_rows(rows, by, now)
        return BulkResult(len(rows), changed)

    def cancel_matching(self: Store, where: TaskFilter, by: str, now: float) -> BulkResult:
        """Cancel every task ``where`` matches, in transactions of ``BULK_BATCH_ROWS``."""
        statuses = _applicable(where, CANCELABLE, "cancel")
        return self._in_batches(statuses, where, lambda rows: self._cancel_rows(rows, by, now))

    def _cancel_rows(self: Store, rows: list[tuple[str, Status, str]], by: str, now: float) -> int:
        waiting = [row for row in rows if row[1] in WAITING]
        running = [row for row in rows if row[1] == Status.RUNNING]
        p = self.db.param
        changed = 0
        if waiting:
            ids = [row[0] for row in waiting]
            changed += self.db.execute_sql(
                f"UPDATE tasks SET status = '{Status.CANCELED}', processed_at = {p}, "
                f"cancel_requested = 0, {END_LEASE} WHERE {self._id_list(ids)}",
                [int(now), *ids],
            ).rowcount
            self.count_finished(Counter((queue, Status.CANCELED) for _, _, queue in waiting))
            self.record_deliveries(ids, now)
        newly = []
        if running:
            ids = [row[0] for row in running]
            cursor = self.db.execute_sql(
                f"UPDATE tasks SET cancel_requested = 1 WHERE {self._id_list(ids)} "
                f"AND cancel_requested = 0 RETURNING id",
                ids,
            )
            newly = {row[0] for row in cursor.fetchall()}
            changed += len(newly)
        self.record_events(
            [
                (task_id, now, "canceled", {"by": by, "from": status})
                for task_id, status, _ in waiting
            ]
            + [
                (task_id, now, "cancel_requested", {"by": by, "from": status})
                for task_id, status, _ in running
                if task_id in newly
            ]
        )
        return changed

    # Retry by hand -------------------------------------------------------

    def retry(
        self: Store, task_id: str, by: str, now: float, default_budget: int
    ) -> dict[str, Any]:
        """Send a finished task back to the queue, due now, with a fresh budget of attempts.

        Its attempts keep counting; ``max_attempts`` rises by its budget (the
        ``max_attempts`` it was submitted with, else ``default_budget``).
        Returns the task's view as the retry left it (read in the same
        transaction, so a worker that claims it at once does not show in it).
        Raises ``TaskNotFound``, or ``Conflict`` naming the status of a task
        that is not finished.
        """
        with self.write_transaction():
            rows = self._locked(f"id = {self.db.param}", [task_id])
            if not rows:
                raise TaskNotFound("task not found")
            [(_, status, _)] = rows
            if status not in FINISHED:
                raise Conflict(f"task is {status}")
            self._retry_rows(rows, by, now, default_budget)
            task = self.get_task(task_id)
        self._notify_enqueued_after()
        return task

    def retry_many(
        self: Store, task_ids: Sequence[str], by: str, now: float, default_budget: int
    ) -> BulkResult:
        with self.write_transaction():
            rows = self._locked(self._id_list(task_ids), list(task_ids))
            changed = self._retry_rows(rows, by, now, default_budget)
        self._notify_enqueued_after()
        return BulkResult(len(rows), changed)

    def retry_matching(
        self: Store, where: TaskFilter, by: str, now: float, default_budget: int
    ) -> BulkResult:
        statuses = _applicable(where, FINISHED, "retry")
        result = self._in_batches(
            statuses, where, lambda rows: self._retry_rows(rows, by, now, default_budget)
        )
        self._notify_enqueued_after()
        return result

    def _retry_rows(
        self: Store, rows: list[tuple[str, Status, str]], by: str, now: float, budget: int
    ) -> int:
        finished = [row for row in rows if row[1] in FINISHED]
        if not finished:
            return 0
        p = self.db.param
        ids = [row[0] for row in finished]
        now_mark, now_params = self.now_sql(now)
        changed = self.db.execute_sql(
            f"UPDATE tasks SET status = '{Status.QUEUED}', run_at = {now_mark}, "
            f"max_attempts = attempts + COALESCE(attempt_budget, {p}), cancel_requested = 0, "
            f"processed_at = NULL, result = NULL, progress = NULL, {END_LEASE} "
            f"WHERE {self._id_list(ids)}",
            [*now_params, budget, *ids],
        ).rowcount
        left = Counter((queue, status) for _, status, queue in finished)
        self.count_finished({key: -count for key, count in left.items()})
        self.record_events(
            [
                (task_id, now, "retried_by_hand", {"by": by, "from": status})
                for task_id, status, _ in finished
            ]
        )
        return changed

    def _notify_enqueued_after(self: Store) -> None:
        """Tell listening processes that tasks are due (a transaction of its own)."""
        with self.write_transaction():
            self._notify_enqueued()

    # Shared by cancel and retry -------------------------------------------

    def _id_list(self: Store, ids: Sequence[str]) -> str:
        if not ids:
            return "1 = 0"
        return f"id IN ({', '.join([self.db.param] * len(ids))})"

    def _locked(self: Store, where: str, params: list) -> list[tuple[str, Status, str]]:
        """``(id, status, queue)`` of the rows ``where`` selects, locked until the end of the
        caller's transaction (SQLite's write transaction locks them all already)."""
        cursor = self.db.execute_sql(
            f"SELECT id, status, queue FROM tasks WHERE {where}{self.row_lock_clause}", params
        )
        return [(row[0], Status(row[1]), row[2]) for row in cursor.fetchall()]

    def _in_batches(self: Store, statuses, where: TaskFilter, change) -> BulkResult:
        matched = changed = 0
        for status in statuses:
            for rows in self._matching_batches(status, where):
                matched += len(rows)
                changed += change(rows)
        return BulkResult(matched, changed)

    def _matching_batches(
        self: Store, status: Status, where: TaskFilter
    ) -> Iterator[list[tuple[str, Status, str]]]:
        """Batches of the tasks in ``status`` that ``where`` matches, oldest first, each
        yielded inside its own write transaction (which the caller's change joins).

        Keyset paging over the status index: each batch starts after the last
        one, so a batch never reads what earlier batches have seen.
        """
        p = self.db.param
        conditions = [f"status = '{status}'"]
        params: list = []
        if where.queue is not None:
            conditions.append(f"queue = {p}")
            params.append(where.queue)
        if where.action is not None:
            conditions.append(f"action = {p}")
            params.append(where.action)
        if where.error is not None:
            conditions.append(f"error = {p}")
            params.append(where.error)
        after: tuple | None = None
        while True:
            page = list(conditions)
            page_params = list(params)
            if after is not None:
                page.append(f"(created_at > {p} OR (created_at = {p} AND enqueued_ns > {p}))")
                page_params += [after[0], after[0], after[1]]
            with self.write_transaction():
                cursor = self.db.execute_sql(
                    f"SELECT id, status, queue, created_at, enqueued_ns FROM tasks "
                    f"WHERE {' AND '.join(page)} ORDER BY created_at, enqueued_ns "
                    f"LIMIT {BULK_BATCH_ROWS}{self.row_lock_clause}",
                    page_params,
                )
                rows = cursor.fetchall()
                if not rows:
                    return
                after = (rows[-1][3], rows[-1][4])
                yield [(row[0], Status(row[1]), row[2]) for row in rows]
            if len(rows) < BULK_BATCH_ROWS:
                return

    # Queues ----------------------------------------------------------------

    def pause(self: Store, queue: str, by: str, now: float) -> QueueState:
        """Stop every node from claiming tasks of ``queue`` (stored: a restart keeps it).

        The queue still accepts tasks, and its running tasks finish.
        """
        p = self.db.param
        with self.write_transaction():
            self.db.execute_sql(
                f"INSERT INTO queues (name) VALUES ({p}) ON CONFLICT (name) DO NOTHING", (queue,)
            )
            # A second pause keeps the first one's time and author.
            paused = self.db.execute_sql(
                f"UPDATE queues SET paused = 1, paused_at = {p}, paused_by = {p} "
                f"WHERE name = {p} AND paused = 0",
                (now, by, queue),
            ).rowcount
            if paused:
                self._record_queue_event(queue, now, "pause", by)
        return self.queue_state(queue)

    def resume(self: Store, queue: str, by: str, now: float) -> QueueState:
        """Let nodes claim ``queue``'s tasks again; raises ``TaskNotFound`` for an unknown queue."""
        p = self.db.param
        with self.write_transaction():
            if not self.db.execute_sql(
                f"SELECT 1 FROM queues WHERE name = {p}", (queue,)
            ).fetchone():
                raise TaskNotFound(f"queue {queue!r} not found")
            resumed = self.db.execute_sql(
                f"UPDATE queues SET paused = 0, paused_at = NULL, paused_by = NULL "
                f"WHERE name = {p} AND paused = 1",
                (queue,),
            ).rowcount
            if resumed:
                self._record_queue_event(queue, now, "resume", by)
                self._notify_enqueued()
        return self.queue_state(queue)

    def _record_queue_event(self: Store, queue: str, now: float, kind: str, by: str) -> None:
        p = self.db.param
        self.db.execute_sql(
            f"INSERT INTO queue_events (queue, at, kind, by) VALUES ({p}, {p}, {p}, {p})",
            (queue, now, kind, by),
        )

    def queue_state(self: Store, queue: str) -> QueueState:
        p = self.db.param
        cursor = self.db.execute_sql(
            f"SELECT name, paused, paused_at, paused_by FROM queues WHERE name = {p}", (queue,)
        )
        row = cursor.fetchone()
        if row is None:
            raise TaskNotFound(f"queue {queue!r} not found")
        return QueueState(row[0], bool(row[1]), row[2], row[3])

    def queue_states(self: Store) -> list[QueueState]:
        """Every queue that has had tasks or been paused, by name."""
        cursor = self.db.execute_sql(
            "SELECT name, paused, paused_at, paused_by FROM queues ORDER BY name"
        )
        return [QueueState(row[0], bool(row[1]), row[2], row[3]) for row in cursor.fetchall()]

    def active_queues(self: Store) -> list[str]:
        """The queues whose tasks may be claimed now (not paused)."""
        cursor = self.db.execute_sql("SELECT name FROM queues WHERE paused = 0 ORDER BY name")
        return [row[0] for row in cursor.fetchall()]


def _applicable(where: TaskFilter, statuses: Sequence[Status], operation: str) -> list[Status]:
    if where.status is None:
        return list(statuses)
    if where.status not in statuses:
        raise InvalidInput(
            f"filter.status: {operation} applies to {', '.join(statuses)}, not {where.status}"
        )
    return [where.status]
