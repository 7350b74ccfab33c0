"""Retention: finished tasks older than their status's retention are deleted, with their
history and their delivery logs, in short transactions. Part of ``Store``.

Only ``completed``, ``dead`` and ``canceled`` tasks are ever deleted, by the time
they finished (``processed_at``, read off the partial index of finished tasks),
and never one whose completion webhook is still pending. Deleting a task frees
its idempotency key. The counts of finished tasks kept per queue are lowered
by what is deleted, in the same transaction.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from .statuses import FINISHED, Status, sql_list

if TYPE_CHECKING:
    from .store import Store

PRUNE_BATCH_ROWS = 500  # tasks per transaction at first (each with a few events)
MAX_PRUNE_BATCH_ROWS = 2000


class RetentionMixin:
    def prune_batch(self: Store, status: Status, finished_before: float, limit: int) -> int:
        """Delete up to ``limit`` tasks in ``status`` (a finished one) that finished before
        ``finished_before``, with their events and webhook deliveries, in one
        transaction; return how many were deleted.

        On PostgreSQL the rows are taken ``FOR UPDATE SKIP LOCKED``: a task that
        someone is retrying by hand at that moment is left for the next round.
        """
        if status not in FINISHED:
            raise ValueError(f"only finished tasks are pruned, not {status}")
        p = self.db.param
        skip_locked = f"{self.row_lock_clause} SKIP LOCKED" if self.row_lock_clause else ""
        with self.write_transaction():
            cursor = self.db.execute_sql(
                f"SELECT id FROM tasks {self.index_hint('tasks_finished')} "
                f"WHERE status IN ({sql_list(FINISHED)}) AND status = '{status}' "
                f"AND processed_at < {p} AND NOT EXISTS (SELECT 1 FROM webhook_deliveries "
                f"WHERE webhook_deliveries.task_id = tasks.id AND state = 'pending') "
                f"ORDER BY processed_at LIMIT {p}{skip_locked}",
                (int(finished_before), limit),
            )
            ids = [row[0] for row in cursor.fetchall()]
            if not ids:
                return 0
            marks = ", ".join([p] * len(ids))
            for table in ("task_events", "webhook_tries", "webhook_deliveries"):
                self.db.execute_sql(f"DELETE FROM {table} WHERE task_id IN ({marks})", ids)
            # The rows are ours until the commit (locked on PostgreSQL, SQLite's write
            # transaction on the file), so their status is still the one selected. No
            # status term here: SQLite would read the status index for it, every row.
            cursor = self.db.execute_sql(
                f"DELETE FROM tasks WHERE id IN ({marks}) RETURNING queue", ids
            )
            deleted = Counter(row[0] for row in cursor.fetchall())
            self.count_finished({(queue, status): -n for queue, n in deleted.items()})
        return sum(deleted.values())

    def oldest_finished(self: Store, status: Status) -> int | None:
        """When the longest-kept task in ``status`` finished (Unix seconds), or None."""
        cursor = self.db.execute_sql(
            f"SELECT MIN(processed_at) FROM tasks {self.index_hint('tasks_finished')} "
            f"WHERE status IN ({sql_list(FINISHED)}) AND status = '{status}'"
        )
        return cursor.fetchone()[0]
