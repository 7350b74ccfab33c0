"""The deliverer: sends completion webhooks, retries them with backoff."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import models

from ..log import log_event
from . import webhook_http
from .service import MaintenanceService

DELIVERY_INTERVAL_SECONDS = 1.0  # how soon a new delivery (or a due retry) is sent
DELIVERY_CONCURRENCY = 4  # tries in flight at once on one node
MAX_ROUNDS_PER_TICK = 25  # claims per tick while more are due; the next tick goes on

Sender = Callable[..., webhook_http.Answer]


class Deliverer(MaintenanceService):
    """Every ``interval_seconds``: leases the due deliveries (up to ``concurrency`` at a
    time), POSTs each, signed, from a pool of threads, and records every try.

    It runs on every node, not only the leader: a try is network-bound (up to
    10 s), so the nodes share the sending, and a leader change never holds up
    webhooks. A delivery is leased as a task is claimed (on PostgreSQL with
    ``FOR UPDATE SKIP LOCKED``), so one node at a time sends it; a node that
    dies mid-try leaves it due again when the lease ends, and the receiver sees
    the same ``webhook-id`` again. ``tick`` returns the tries it made.
    """

    name = "deliver"

    def __init__(
        self,
        store: models.Store,
        interval_seconds: float,
        secret: bytes,
        policy: webhook_http.AddressPolicy,
        concurrency: int = DELIVERY_CONCURRENCY,
        sender: Sender = webhook_http.post,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``clock`` dates each signature (``webhook-timestamp``); tests pass their own."""
        super().__init__(store, interval_seconds)
        self._secret = secret
        self._policy = policy
        self._concurrency = concurrency
        self._send = sender
        self._clock = clock
        self._pool: ThreadPoolExecutor | None = None

    def on_start(self) -> None:
        """Runs in the deliverer's thread when it starts: makes its pool of senders."""
        self._pool = ThreadPoolExecutor(self._concurrency, thread_name_prefix="webhook")

    def tick(self, now: float) -> list[models.TryOutcome]:
        outcomes: list[models.TryOutcome] = []
        for _ in range(MAX_ROUNDS_PER_TICK):
            claimed = self.store.claim_deliveries(self._concurrency, now)
            if not claimed:
                break
            done = list(self._pool.map(lambda d: self._try(d, now), claimed))
            states = self.store.record_tries(done, now)
            for outcome in done:
                self._log(outcome, states.get(outcome.delivery.id))
            outcomes += done
            if len(claimed) < self._concurrency:
                break
        return outcomes

    def _try(self, delivery: models.Delivery, now: float) -> models.TryOutcome:
        """In a pool thread: one signed POST of the delivery's body."""
        headers = webhook_http.headers(
            self._secret, delivery.message_id, int(self._clock()), delivery.body
        )
        started = time.perf_counter()
        try:
            answer = self._send(delivery.url, delivery.body, headers, self._policy)
        except Exception as exc:  # noqa: BLE001 - a try that broke is a failed try, logged
            answer = webhook_http.Answer(None, f"{type(exc).__name__}: {exc}")
        latency_ms = (time.perf_counter() - started) * 1000
        return models.TryOutcome(delivery, now, answer.status_code, latency_ms, answer.error)

    @staticmethod
    def _log(outcome: models.TryOutcome, state: str | None) -> None:
        delivery = outcome.delivery
        fields = {
            "task_id": delivery.task_id,
            "try": delivery.tries + 1,
            "status_code": outcome.status_code,
            "latency_ms": round(outcome.latency_ms, 1),
            "state": state or "lease lost",
        }
        if state == "delivered":
            log_event("webhook delivered", logging.INFO, **fields)
        else:
            log_event("webhook failed", logging.WARNING, **fields, error=outcome.error)

    def on_stop(self) -> None:
        """Runs in the deliverer's thread when it is stopped: the tries in flight end
        first (each is bounded by its timeout), then its connection closes."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        super().on_stop()
