"""/queues: what each queue holds, and pausing and resuming it."""

from __future__ import annotations

from typing import Any

import pykka

import models
from actors import QueuesChanged
from models import clock

from .caller import caller
from .errors import handles_errors
from .responses import json_body
from .router import Query
from .validation import check_queue_name


class QueuesResource:
    def __init__(self, store: models.Store, dispatcher: pykka.ActorRef) -> None:
        self.store = store
        self._dispatcher = dispatcher

    @handles_errors
    def list(self, query: Query) -> bytes:
        """Every queue that has tasks or has been paused."""
        now = clock.now()
        counts = self.store.counts_by_queue()
        states = {state.name: state for state in self.store.queue_states()}
        names = sorted(
            {name for name, by_status in counts.items() if any(by_status.values())}
            | {name for name, state in states.items() if state.paused}
        )
        queues = [self._entry(name, counts.get(name), states.get(name), now) for name in names]
        return json_body({"queues": queues})

    @handles_errors
    def pause(self, query: Query, name: str) -> bytes:
        state = self.store.pause(check_queue_name(name), caller(), clock.now())
        self._tell_changed()
        return json_body(self._entry(name, None, state, clock.now()))

    @handles_errors
    def resume(self, query: Query, name: str) -> bytes:
        state = self.store.resume(check_queue_name(name), caller(), clock.now())
        self._tell_changed()
        return json_body(self._entry(name, None, state, clock.now()))

    def _entry(
        self,
        name: str,
        counts: dict[models.Status, int] | None,
        state: models.QueueState | None,
        now: float,
    ) -> dict[str, Any]:
        if counts is None:
            counts = self.store.counts_by_queue().get(name, dict.fromkeys(models.STATUSES, 0))
        paused = state is not None and state.paused
        return {
            "name": name,
            "counts": {str(status): counts[status] for status in models.STATUSES},
            "oldest_due_age_seconds": self.store.oldest_due_age(name, now),
            "paused": paused,
            "paused_at": state.paused_at if paused else None,
            "paused_by": state.paused_by if paused else None,
        }

    def _tell_changed(self) -> None:
        try:
            self._dispatcher.tell(QueuesChanged())
        except pykka.ActorDeadError:
            pass
