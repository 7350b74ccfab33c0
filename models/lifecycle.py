"""The store's upkeep of running and waiting tasks: leases, rescue, the stager, cancel
requests reaching the node that runs a task, and progress. Part of ``Store``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

import orjson

from . import history
from .statuses import FINISHED, Status
from .task import ClaimedTask, Rescued

if TYPE_CHECKING:
    from .store import Store


def _owner(error: str) -> str:
    """The owner named in a rescue's error (``attempt N interrupted: OWNER died …``)."""
    return error.partition(" interrupted: ")[2].partition(" died or")[0]


END_LEASE = "lease_owner = NULL, lease_expires_at = NULL, claim_token = NULL"
STAGE_BATCH_ROWS = 1000  # delayed tasks made due per statement: short write transactions


class LifecycleMixin:
    def heartbeat(
        self: Store, owner: str, task_ids: Sequence[str], now: float, lease_seconds: float
    ) -> int:
        """Extend ``owner``'s lease on the running tasks it still holds."""
        if not task_ids:
            return 0
        p = self.db.param
        marks = ", ".join([p] * len(task_ids))
        now_mark, now_params = self.now_sql(now)
        with self.write_transaction():
            return self.db.execute_sql(
                f"UPDATE tasks SET lease_expires_at = {now_mark} + {p} "
                f"WHERE status = '{Status.RUNNING}' AND lease_owner = {p} AND id IN ({marks})",
                (*now_params, lease_seconds, owner, *task_ids),
            ).rowcount

    def rescue(
        self: Store, now: float, max_attempts: int, dead_owners: Sequence[str] = ()
    ) -> list[Rescued]:
        """Take back running tasks whose lease expired or whose owner is known dead.

        One statement. The interrupted attempt counts: a task that has used
        its attempts (``max_attempts`` of its own, else the argument) goes to
        ``dead`` (this is how a task that kills its process every time ends),
        a task whose cancel was asked to ``canceled``, the rest are ``queued``
        and due at once.
        """
        p = self.db.param
        owners = ""
        if dead_owners:
            owners = f" OR lease_owner IN ({', '.join([p] * len(dead_owners))})"
        last = f"attempts >= COALESCE(max_attempts, {p})"
        now_mark, now_params = self.now_sql(now)
        with self.write_transaction():
            cursor = self.db.execute_sql(
                f"UPDATE tasks SET "
                f"status = CASE WHEN cancel_requested = 1 THEN '{Status.CANCELED}' "
                f"WHEN {last} THEN '{Status.DEAD}' ELSE '{Status.QUEUED}' END, "
                f"processed_at = CASE WHEN cancel_requested = 1 OR {last} THEN {p} "
                f"ELSE processed_at END, "
                f"error = 'attempt ' || CAST(attempts AS TEXT) || ' interrupted: ' "
                f"|| lease_owner || ' died or its lease expired', traceback = NULL, "
                f"run_at = {now_mark}, cancel_requested = 0, {END_LEASE} "
                f"WHERE status = '{Status.RUNNING}' "
                f"AND (lease_expires_at < {now_mark}{owners}) "
                f"RETURNING id, status, queue, attempts, error",
                (max_attempts, max_attempts, int(now), *now_params, *now_params, *dead_owners),
            )
            rows = cursor.fetchall()
            self.count_finished(
                Counter((row[2], Status(row[1])) for row in rows if row[1] in FINISHED)
            )
            self.record_events(
                history.rescued(((r[0], r[1], r[3], _owner(r[4])) for r in rows), now)
            )
            ended = [row[0] for row in rows if row[1] in FINISHED]
            if ended:
                self.record_deliveries(ended, now)
                self._notify_finished(ended)
        return [Rescued(row[0], Status(row[1])) for row in rows]

    def lease_owners(self: Store) -> list[str]:
        """The processes that hold running tasks now."""
        cursor = self.db.execute_sql(
            f"SELECT DISTINCT lease_owner FROM tasks WHERE status = '{Status.RUNNING}'"
        )
        return [row[0] for row in cursor.fetchall() if row[0] is not None]

    def stage(self: Store, now: float) -> int:
        """Make delayed tasks that are due ``queued``; return how many.

        Reads the index of scheduled tasks; at most ``STAGE_BATCH_ROWS`` per
        transaction, so a million tasks due at once never hold the write lock
        long. Safe to run on every node at once.
        """
        p = self.db.param
        now_mark, now_params = self.now_sql(now)
        staged = 0
        while True:
            with self.write_transaction():
                changed = self.db.execute_sql(
                    f"UPDATE tasks SET status = '{Status.QUEUED}' WHERE id IN "
                    f"(SELECT id FROM tasks WHERE status = '{Status.SCHEDULED}' "
                    f"AND run_at <= {now_mark} ORDER BY run_at LIMIT {p}) "
                    f"AND status = '{Status.SCHEDULED}'",
                    (*now_params, STAGE_BATCH_ROWS),
                ).rowcount
            staged += changed
            if changed < STAGE_BATCH_ROWS:
                return staged

    def next_scheduled_at(self: Store) -> float | None:
        """When the next delayed task is due (unix seconds), or None."""
        cursor = self.db.execute_sql(
            f"SELECT MIN(run_at) FROM tasks WHERE status = '{Status.SCHEDULED}'"
        )
        return cursor.fetchone()[0]

    def cancel_requests(self: Store, owner: str) -> list[str]:
        """The running tasks leased to ``owner`` whose cancel was asked (a small index)."""
        p = self.db.param
        cursor = self.db.execute_sql(
            f"SELECT id FROM tasks WHERE status = '{Status.RUNNING}' AND cancel_requested = 1 "
            f"AND lease_owner = {p}",
            (owner,),
        )
        return [row[0] for row in cursor.fetchall()]

    def set_progress(
        self: Store, task: ClaimedTask, fraction: float | None, message: str | None, now: float
    ) -> bool:
        """Store the running attempt's progress, and a ``progress`` event; fenced by its
        claim. False if the claim is lost."""
        progress = orjson.dumps({"fraction": fraction, "message": message, "at": now}).decode()
        with self.write_transaction():
            changed = self.db.execute_sql(
                f"UPDATE tasks SET progress = {self.db.param} WHERE {self._fence()}",
                (progress, task.id, task.token),
            ).rowcount
            if changed:
                detail = {"fraction": fraction, "message": message}
                self.record_events([(task.id, now, "progress", detail)])
        return bool(changed)
