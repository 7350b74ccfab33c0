"""Hearing other processes: the contract of a backend's listener."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from peewee import OperationalError


class ListenerLost(OperationalError):
    """The listener's connection failed; ``connect`` again after a pause."""


@dataclass
class Heard:
    """What a wait heard: whether new tasks were committed, and which tasks finished."""

    new_tasks: bool = False
    finished: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.new_tasks or bool(self.finished)


class Listener(ABC):
    """A connection of its own that waits for "new tasks were committed" and
    "these tasks finished" from any process.

    Used by one thread: ``connect``, then ``wait`` in a loop, ``close`` at the end. ``interrupt``
    may be called from any other thread, and makes a ``wait`` in progress
    (or the next one) return at once, so that a stop never waits out a
    timeout. Every method but ``interrupt`` raises ``ListenerLost`` when the
    connection fails.
    """

    @abstractmethod
    def connect(self) -> None:
        """Open the connection and start listening; anything committed from now on is heard."""

    @abstractmethod
    def wait(self, timeout_seconds: float) -> Heard:
        """Block until a notification, an interrupt or the timeout; return what was heard
        (a burst of notifications is heard at once)."""

    @abstractmethod
    def interrupt(self) -> None:
        """Wake a ``wait`` in progress (from any thread)."""

    @abstractmethod
    def disconnect(self) -> None:
        """Close the connection; ``connect`` may be called again."""

    @abstractmethod
    def close(self) -> None:
        """Close the connection and everything else the listener holds, for good."""
