"""Who in this process waits for which task to finish."""

from __future__ import annotations

import threading
from collections.abc import Iterable


class FinishedBoard:
    """Waiters register a task id and get an event; whoever learns that tasks finished
    (the dispatcher after a commit, the rescuer, a cancel, the listener hearing
    another node) publishes their ids, which sets the events. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[str, set[threading.Event]] = {}

    def watch(self, task_id: str) -> threading.Event:
        event = threading.Event()
        with self._lock:
            self._waiting.setdefault(task_id, set()).add(event)
        return event

    def unwatch(self, task_id: str, event: threading.Event) -> None:
        with self._lock:
            events = self._waiting.get(task_id)
            if events is not None:
                events.discard(event)
                if not events:
                    del self._waiting[task_id]

    def publish(self, task_ids: Iterable[str]) -> None:
        if not self._waiting:  # the usual case: nobody waits, nothing to look up
            return
        with self._lock:
            events = [event for task_id in task_ids for event in self._waiting.get(task_id, ())]
        for event in events:
            event.set()

    def watched(self) -> int:
        with self._lock:
            return len(self._waiting)
