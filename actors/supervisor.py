"""The supervisor actor: migrates first, starts and restarts the workers, rescues leases."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass

import pykka

import models

from .actions import ActionRegistry
from .config import QueueConfig
from .dispatcher import Dispatcher
from .log import log_event
from .messages import (
    AttachWorker,
    Boot,
    Flush,
    ReleaseUnstarted,
    Rescue,
    Shutdown,
    StopClaiming,
    Wake,
    WorkerDied,
)
from .pg_listener import PgListener
from .ticker import Ticker
from .worker import Worker


@dataclass(frozen=True)
class Service:
    """What ``Boot`` hands back: the refs the web layer needs."""

    dispatcher: pykka.ActorRef


def dead_local_owners(owners: list[str], me: str) -> list[str]:
    """The ``host:pid`` owners on this host whose process no longer exists.

    Their tasks can be taken back at once instead of after the lease: this is
    what makes a restart after kill -9 pick up its interrupted tasks
    immediately. Owners on other hosts are left to their lease.
    """
    host = socket.gethostname()
    dead = []
    for owner in owners:
        owner_host, _, pid_text = owner.rpartition(":")
        if owner == me or owner_host != host or not pid_text.isdigit():
            continue
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            dead.append(owner)
        except PermissionError:
            pass  # alive, under another user
    return dead


class Supervisor(pykka.ThreadingActor):
    """Owns the lifecycle of the dispatcher, the workers and the ticker.

    Thread: its own. ``Boot`` (asked by run.py or a test) runs the migration
    before any other actor exists, so nothing touches the database before
    the schema is ready; a failed migration comes back to the asker as
    ``MigrationError``. Then it takes back tasks left ``running`` by dead
    processes, starts the dispatcher and workers, and starts the ticker.

    ``WorkerDied`` (from a worker's ``on_failure``) starts a replacement
    in the same slot and logs ``worker restarted``; the dispatcher then
    counts the crashed attempt and requeues the rest of that worker's tasks.
    ``Rescue`` (from the ticker) returns expired leases to the queue and,
    as a fallback, replaces any worker found dead without having reported.
    On PostgreSQL it also runs the ``PgListener`` that wakes the dispatcher
    when another node commits tasks.
    """

    def __init__(
        self,
        config: QueueConfig,
        registry: ActionRegistry,
        db: object,
        start_ticker: bool = True,
        stopping: threading.Event | None = None,
    ) -> None:
        """``stopping`` is set when a shutdown begins; from then on workers
        release the tasks they have not started. Tests may pass their own to
        wait on it."""
        super().__init__()
        self._config = config
        self._registry = registry
        self._db = db
        self._start_ticker = start_ticker
        self._stopping = stopping or threading.Event()
        self._dispatcher: pykka.ActorRef | None = None
        self._workers: list[pykka.ActorRef] = []
        self._dead_at_last_tick: set[pykka.ActorRef] = set()
        self._running_now: dict[int, str | None] = {}  # each worker's current task id
        self._ticker: Ticker | None = None
        self._listener: PgListener | None = None

    def on_receive(self, message: object) -> object:
        """Runs in the supervisor's thread, one message at a time."""
        match message:
            case Boot():
                return self._boot()
            case WorkerDied(worker_index=index, ref=ref, running=running, error=error):
                if not self._stopping.is_set() and self._workers[index] == ref:
                    self._restart_worker(index, running, error)
            case Rescue(now=now):
                if not self._stopping.is_set():
                    self._replace_silent_deaths()
                    self._rescue(now)
            case Shutdown(timeout_seconds=timeout):
                self._shutdown(timeout)
        return None

    def _boot(self) -> Service:
        started = time.perf_counter()
        applied = models.migrate(self._db)
        log_event(
            "migration complete",
            applied=applied or "none",
            version=models.LATEST_VERSION,
            duration_ms=(time.perf_counter() - started) * 1000,
        )
        self._rescue(time.time())
        self._dispatcher = Dispatcher.start(self._config)
        for index in range(self._config.workers):
            ref = self._start_worker(index)
            self._workers.append(ref)
            self._dispatcher.tell(AttachWorker(index, ref))
        self._dispatcher.tell(Wake())
        if models.is_postgresql(self._db):
            self._listener = PgListener(self._db, self._dispatcher)
            self._listener.start()
        if self._start_ticker:
            self._ticker = Ticker(
                self._dispatcher,
                self.actor_ref,
                self._config.poll_interval_seconds,
                self._config.rescue_interval_seconds,
            )
            self._ticker.start()
        log_event(
            "service started",
            node=self._config.node,
            owner=self._config.owner,
            workers=self._config.workers,
            prefetch=self._config.prefetch,
        )
        return Service(dispatcher=self._dispatcher)

    def _start_worker(self, index: int) -> pykka.ActorRef:
        self._running_now[index] = None
        return Worker.start(
            index,
            self._config,
            self._registry,
            self._dispatcher,
            self.actor_ref,
            self._stopping,
            self._running_now,
        )

    def _restart_worker(self, index: int, running: models.ClaimedTask | None, error: str) -> None:
        ref = self._start_worker(index)
        self._workers[index] = ref
        log_event(
            "worker restarted",
            logging.WARNING,
            worker=index,
            error=error,
            task_id=running.id if running else "none",
        )
        self._dispatcher.tell(AttachWorker(index, ref, crashed=running, error=error))
        self._dispatcher.tell(Wake())

    def _replace_silent_deaths(self) -> None:
        """Replace a worker that died without a ``WorkerDied`` report.

        A dying worker reports from ``on_failure`` just after Pykka marks it
        dead, so a worker is only presumed silent when it is still dead and
        unreported at the next tick; otherwise its report (which counts the
        crashed attempt) would race with this fallback.
        """
        dead = {ref for ref in self._workers if not ref.is_alive()}
        for index, ref in enumerate(self._workers):
            if ref in dead and ref in self._dead_at_last_tick:
                self._restart_worker(index, None, "found dead")
        self._dead_at_last_tick = dead

    def _rescue(self, now: float) -> None:
        try:
            dead = dead_local_owners(models.lease_owners(), self._config.owner)
            rescued = models.rescue(now, self._config.max_attempts, dead)
        except models.StorageError as exc:  # retried at the next tick
            models.discard_connection()
            log_event("rescue failed", logging.WARNING, error=repr(exc))
            return
        for task_id, status in rescued:
            log_event("task rescued", logging.WARNING, task_id=task_id, status=status)
        if rescued and self._dispatcher is not None:
            self._dispatcher.tell(Wake(now))

    def _shutdown(self, timeout_seconds: float) -> None:
        """Stop claiming, let running tasks finish within the timeout, then stop.

        Prefetched tasks that never started are released with their attempt
        refunded. A task still running at the deadline stays ``running``
        under this process's lease: the next start on this host takes it back
        at once, another node after the lease expires.
        """
        deadline = time.monotonic() + timeout_seconds
        self._stopping.set()
        if self._ticker is not None:
            self._ticker.stop()
        if self._listener is not None:
            self._listener.stop()
        if self._dispatcher is not None:
            self._dispatcher.ask(StopClaiming())
        for index, ref in enumerate(self._workers):
            try:
                ref.ask(Flush(), timeout=max(0.0, deadline - time.monotonic()))
            except pykka.Timeout:
                # It stopped starting tasks when ``stopping`` was set, so its
                # current task is the only one it will run: give back the rest.
                running_id = self._running_now.get(index)
                log_event(
                    "worker still busy at shutdown",
                    logging.WARNING,
                    worker=index,
                    task_id=running_id or "none",
                )
                self._dispatcher.ask(ReleaseUnstarted(index, running_id))
            except pykka.ActorDeadError:
                pass
        for ref in self._workers:
            ref.stop(block=False)
        if self._dispatcher is not None:
            self._dispatcher.stop()
