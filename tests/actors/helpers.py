"""Test doubles and synchronisation helpers for driving the actors directly."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pykka

from actors import ActionRegistry, Dispatcher, Flush, Worker
from actors.actions import Action

WAIT_SECONDS = 10.0


class Latch:
    """Counts events; ``wait(n)`` blocks until at least ``n`` have happened."""

    def __init__(self) -> None:
        self._count = 0
        self._changed = threading.Condition()
        self.items: list = []

    def hit(self, item=None) -> None:
        with self._changed:
            self._count += 1
            self.items.append(item)
            self._changed.notify_all()

    def wait(self, count: int, timeout: float = WAIT_SECONDS) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: self._count >= count, timeout):
                raise AssertionError(f"only {self._count} of {count} events within {timeout}s")


class Crash(BaseException):
    """What an action raises to kill its worker (not an ``Exception``)."""


class BlockingAction:
    """An action that signals ``started`` and then waits until ``release()``."""

    def __init__(self, result=None) -> None:
        self.started = Latch()
        self._gate = threading.Event()
        self._result = {} if result is None else result

    def __call__(self, data):
        self.started.hit()
        self._gate.wait(WAIT_SECONDS)
        return self._result

    def release(self) -> None:
        self._gate.set()


def registry_with(**actions) -> ActionRegistry:
    """A registry whose fallback echoes the data; ``actions`` are added by name."""
    registry = ActionRegistry(Action("*", lambda data: {"echo": data}, source="test"))
    for name, function in actions.items():
        registry.register(name, function)
    return registry


def flush_workers() -> None:
    """Returns once every live worker has reported all it ran, and the dispatcher has
    committed every outcome reported (a Flush asked of each, in that order)."""
    for cls in (Worker, Dispatcher):
        for ref in pykka.ActorRegistry.get_by_class(cls):
            try:
                ref.ask(Flush(), timeout=WAIT_SECONDS)
            except pykka.ActorDeadError:
                pass


class ProbeWorker(pykka.ThreadingActor):
    """Stands in for a worker in dispatcher unit tests: records what it is sent."""

    def __init__(self, inbox: list, latch: Latch) -> None:
        super().__init__()
        self.inbox = inbox
        self.latch = latch

    def on_receive(self, message):
        self.inbox.append(message)
        self.latch.hit(message)


def a_dead_pid() -> int:
    """The pid of no live process, found without starting one (the actor tests stay
    in-process): the highest free pid, the last the kernel hands out again. Free as the
    rescuer checks it, ``os.kill(pid, 0)`` raising ``ProcessLookupError``."""
    pid_max_file = Path("/proc/sys/kernel/pid_max")
    pid_max = int(pid_max_file.read_text()) if pid_max_file.exists() else 99_999
    for pid in range(pid_max - 1, 1, -1):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            continue  # alive, under another user
    raise RuntimeError("no free pid")
