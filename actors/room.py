"""How many new tasks this node can start at once, for the intake to decide whether any
other node needs waking for them."""

from __future__ import annotations

import threading
from collections.abc import Iterable


class IdleRoom:
    """The dispatcher publishes, after each message, how many tasks its idle workers could
    start right away and from which queues. The intake, committing tasks accepted by this
    node's handlers (which wake this dispatcher themselves), asks ``takes``: if this node
    starts them at once, no other node need be woken, since each wake there costs a claim
    that finds nothing. Otherwise (workers busy, a queue this node does not serve or does
    not know yet) every node is told, as before.

    ``takes`` counts what it granted off the room until the next publish, so one idle
    worker is not promised twice. Thread-safe. Only a hint: a task this node does not
    start after all is still found by the other nodes' poll.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle = 0
        self._queues: frozenset[str] = frozenset()

    def publish(self, idle: int, queues: Iterable[str]) -> None:
        """From the dispatcher: ``idle`` tasks could start now, of ``queues``."""
        queues = frozenset(queues)
        with self._lock:
            self._idle = idle
            self._queues = queues

    def takes(self, count: int, queues: Iterable[str]) -> bool:
        """Whether this node starts ``count`` new tasks of ``queues`` at once; if so,
        they are counted off the room."""
        with self._lock:
            if count > self._idle or not self._queues.issuperset(queues):
                return False
            self._idle -= count
            return True
