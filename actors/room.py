"""How many new tasks this node can start at once, for the intake to claim them as it
stores them (and so wake no other node for them)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

import pykka

import models

from .config import QueueConfig
from .log import log_event
from .messages import Claimed


class IdleRoom:
    """The dispatcher publishes, after each message, how many tasks its idle workers could
    start right away and from which queues. The intake, committing tasks accepted by this
    node's handlers, asks ``takes`` (through ``StartAtOnce``): if this node starts them at
    once, it claims them in the same transaction, and no other node need be woken, since
    each wake there costs a claim that finds nothing. Otherwise (workers busy, a queue
    this node does not serve or does not know yet) the dispatcher and every node are told,
    as before.

    ``takes`` counts what it granted off the room until the next publish, so one idle
    worker is not promised twice. Thread-safe. Only a hint: a worker promised a task
    it cannot take at once gets it behind the one it runs, or gives it back.
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


class StartAtOnce:
    """``models.StartHere`` for this node: new tasks its idle workers can take (``IdleRoom``)
    are claimed in the intake's own transaction, under this node's lease, and handed to
    its dispatcher, one commit sooner than the dispatcher's own claim would start them.

    A dispatcher that is dead takes nothing. One that died between the claim and
    the hand-over leaves the tasks under this process's lease: a restart here
    takes them back at once, another node once the lease expires.
    """

    def __init__(self, room: IdleRoom, dispatcher: pykka.ActorRef, config: QueueConfig) -> None:
        self._room = room
        self._dispatcher = dispatcher
        self._config = config

    def claim_for(self, count: int, queues: set[str]) -> models.ClaimRequest | None:
        if not self._dispatcher.is_alive() or not self._room.takes(count, queues):
            return None
        config = self._config
        return models.ClaimRequest(
            config.owner, config.node, count, sorted(queues), config.lease_seconds
        )

    def hand_over(self, tasks: list[models.ClaimedTask]) -> None:
        try:
            self._dispatcher.tell(Claimed(tuple(tasks)))
        except pykka.ActorDeadError:
            log_event(
                "claimed tasks left to their lease: dispatcher stopped",
                logging.WARNING,
                count=len(tasks),
            )
