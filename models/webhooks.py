"""Completion webhooks: durable deliveries and their log. Part of ``Store``.

A delivery is a row written in the same transaction as its task's final
transition (``record_deliveries``, called by settle, cancel and rescue), so
a crash never loses one. A delivery service claims due rows as tasks are
claimed: the claim moves ``next_try_at`` a lease ahead and writes a fresh
``lease_token``, so one node at a time sends a row, and a node that dies
while sending leaves the row due again when the lease ends. Each try's
outcome is fenced by that token and logged in ``webhook_tries``.

States: ``pending`` (to send, now or at ``next_try_at``), ``delivered`` (a
2xx), ``gone`` (the receiver answered 410: stop), ``failed`` (no 2xx within
``GIVE_UP_AFTER_SECONDS``).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from .errors import TaskNotFound
from .task import storable_text

if TYPE_CHECKING:
    from .store import Store

FIRST_RETRY_SECONDS = 5.0  # the first retry; each later one waits twice as long
MAX_RETRY_SECONDS = 3600.0  # ... up to an hour
GIVE_UP_AFTER_SECONDS = 86_400.0  # no retry is made past a day after the task ended
RETRY_JITTER_FRACTION = 0.1
DELIVERY_LEASE_SECONDS = 60.0  # well past a try's timeout: a node that died mid-try
RECORD_CHUNK_IDS = 500
MAX_ERROR_CHARS = 500
STATES = ("pending", "delivered", "failed", "gone")


@dataclass(frozen=True)
class Delivery:
    """One delivery handed to this node to send: ``body`` is the task as JSON."""

    id: int
    task_id: str
    url: str
    event: str  # the status the task ended in
    tries: int  # tries made before this one
    created_at: float
    token: str
    body: bytes

    @property
    def message_id(self) -> str:
        """Standard Webhooks' ``webhook-id``: the same for every try of this delivery."""
        return f"msg_{self.task_id}_{self.id}"


@dataclass(frozen=True)
class TryOutcome:
    """How one try went: an HTTP status, or an error before there was one."""

    delivery: Delivery
    at: float
    status_code: int | None
    latency_ms: float
    error: str | None = None


def retry_delay_seconds(tries: int, rng: random.Random | None = None) -> float:
    """After the ``tries``-th failed try: 5 s, 10 s, 20 s … up to an hour, +0–10 %."""
    delay = min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** max(0, tries - 1))
    return delay * (1 + RETRY_JITTER_FRACTION * (rng or random).random())


def task_body(view: dict[str, Any]) -> bytes:
    """The task as ``GET /tasks/{id}`` shows it, as JSON."""
    spliced = dict(view)
    for name in ("payload", "result", "progress"):
        if spliced[name] is not None:
            spliced[name] = orjson.Fragment(spliced[name])
    return orjson.dumps(spliced)


class WebhooksMixin:
    def record_deliveries(self: Store, task_ids: Sequence[str], now: float) -> None:
        """In the caller's transaction, which moves ``task_ids`` to a final status: a
        pending delivery for each of them that has a ``notify_url``."""
        p = self.db.param
        now_mark, now_params = self.now_sql(now)  # due by the clock that decides leases
        for start in range(0, len(task_ids), RECORD_CHUNK_IDS):
            chunk = list(task_ids[start : start + RECORD_CHUNK_IDS])
            self._write_later(
                f"INSERT INTO webhook_deliveries (task_id, url, event, state, tries, created_at, "
                f"next_try_at) SELECT id, notify_url, status, 'pending', 0, {p}, {now_mark} "
                f"FROM tasks "
                f"WHERE id IN ({', '.join([p] * len(chunk))}) AND notify_url IS NOT NULL",
                [now, *now_params, *chunk],
            )

    def claim_deliveries(
        self: Store, limit: int, now: float, lease_seconds: float = DELIVERY_LEASE_SECONDS
    ) -> list[Delivery]:
        """Lease up to ``limit`` due deliveries to the caller, oldest due first.

        The first claim of a delivery stores its body (the task as it then is,
        normally as it ended), so that every try sends the same bytes.
        """
        p = self.db.param
        token = uuid.uuid4().hex
        skip_locked = f"{self.row_lock_clause} SKIP LOCKED" if self.row_lock_clause else ""
        # The lease is decided by the clock that decides task leases (``now_sql``).
        now_mark, now_params = self.now_sql(now)
        with self.write_transaction():
            cursor = self.db.execute_sql(
                f"WITH picked AS (SELECT id FROM webhook_deliveries WHERE state = 'pending' "
                f"AND next_try_at <= {now_mark} ORDER BY next_try_at LIMIT {p}{skip_locked}) "
                f"UPDATE webhook_deliveries SET next_try_at = {now_mark} + {p}, "
                f"lease_token = {p} "
                f"FROM picked WHERE webhook_deliveries.id = picked.id RETURNING "
                f"webhook_deliveries.id, task_id, url, event, tries, created_at, body",
                (*now_params, limit, *now_params, lease_seconds, token),
            )
            rows = sorted(cursor.fetchall())
            deliveries = []
            for delivery_id, task_id, url, event, tries, created_at, body in rows:
                if body is None:
                    try:
                        body = task_body(self.get_task(task_id)).decode()
                    except TaskNotFound:  # deleted by hand from the database
                        body = orjson.dumps({"id": task_id, "status": event}).decode()
                    self.db.execute_sql(
                        f"UPDATE webhook_deliveries SET body = {p} WHERE id = {p}",
                        (body, delivery_id),
                    )
                deliveries.append(
                    Delivery(
                        delivery_id, task_id, url, event, tries, created_at, token, body.encode()
                    )
                )
        return deliveries

    def record_tries(
        self: Store, outcomes: Sequence[TryOutcome], now: float, rng: random.Random | None = None
    ) -> dict[int, str]:
        """Log each try and move its delivery on: ``delivered`` on a 2xx, ``gone`` on a
        410, else due again after its backoff, or ``failed`` once that would be more
        than ``GIVE_UP_AFTER_SECONDS`` after the delivery was made. Fenced by each
        claim's token. Returns the new state of each delivery whose claim held."""
        p = self.db.param
        states: dict[int, str] = {}
        now = self.database_now(now)  # next tries are due by the clock of the leases
        with self.write_transaction():
            for outcome in outcomes:
                delivery = outcome.delivery
                tries = delivery.tries + 1
                code = outcome.status_code
                next_try_at = now + retry_delay_seconds(tries, rng)
                if code is not None and 200 <= code < 300:
                    state = "delivered"
                elif code == 410:
                    state = "gone"
                elif next_try_at > delivery.created_at + GIVE_UP_AFTER_SECONDS:
                    state = "failed"
                else:
                    state = "pending"
                finished_at = None if state == "pending" else now
                changed = self.db.execute_sql(
                    f"UPDATE webhook_deliveries SET state = {p}, tries = {p}, next_try_at = {p}, "
                    f"finished_at = {p}, lease_token = NULL "
                    f"WHERE id = {p} AND lease_token = {p} AND state = 'pending'",
                    (state, tries, next_try_at, finished_at, delivery.id, delivery.token),
                ).rowcount
                if not changed:
                    continue
                error = None if outcome.error is None else outcome.error[:MAX_ERROR_CHARS]
                self.db.execute_sql(
                    f"INSERT INTO webhook_tries (delivery_id, task_id, at, status_code, "
                    f"latency_ms, error) VALUES ({p}, {p}, {p}, {p}, {p}, {p})",
                    (
                        delivery.id,
                        delivery.task_id,
                        outcome.at,
                        code,
                        outcome.latency_ms,
                        None if error is None else storable_text(error),
                    ),
                )
                states[delivery.id] = state
        return states

    def deliveries_of(self: Store, task_id: str) -> list[dict[str, Any]]:
        """Every delivery of a task, oldest first, each with its tries; raises
        ``TaskNotFound``."""
        if (
            "\x00" in task_id
            or not self.db.execute_sql(
                f"SELECT 1 FROM tasks WHERE id = {self.db.param}", (task_id,)
            ).fetchone()
        ):
            raise TaskNotFound("task not found")
        p = self.db.param
        tries: dict[int, list[dict[str, Any]]] = {}
        cursor = self.db.execute_sql(
            f"SELECT delivery_id, at, status_code, latency_ms, error FROM webhook_tries "
            f"WHERE task_id = {p} ORDER BY id",
            (task_id,),
        )
        for delivery_id, at, code, latency, error in cursor.fetchall():
            tries.setdefault(delivery_id, []).append(
                {"at": at, "status_code": code, "latency_ms": latency, "error": error}
            )
        cursor = self.db.execute_sql(
            f"SELECT id, url, event, state, tries, created_at, next_try_at, finished_at "
            f"FROM webhook_deliveries WHERE task_id = {p} ORDER BY id",
            (task_id,),
        )
        return [
            {
                "id": f"msg_{task_id}_{delivery_id}",
                "url": url,
                "event": event,
                "state": state,
                "tries": tries.get(delivery_id, []),
                "created_at": created_at,
                "next_try_at": next_try_at if state == "pending" else None,
                "finished_at": finished_at,
            }
            for delivery_id, url, event, state, _, created_at, next_try_at, finished_at in (
                cursor.fetchall()
            )
        ]

    def count_pending_deliveries(self: Store) -> int:
        """Deliveries not yet sent or retried (read off the due index)."""
        cursor = self.db.execute_sql(
            "SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'pending'"
        )
        return cursor.fetchone()[0]
