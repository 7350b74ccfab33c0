"""The supervisor actor: migrates first, then owns the life of every other actor and thread."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata

import pykka

import models
from models import clock

from . import metrics
from .actions import ActionRegistry
from .attempt import Attempt, WorkerSlot
from .config import HEALTH_CHECK_INTERVAL_SECONDS, LEADER_RENEW_SECONDS, QueueConfig
from .dispatcher import Dispatcher
from .finished import FinishedBoard
from .listener import WakeListener
from .log import log_event
from .maintenance import (
    FILES_CHECK_INTERVAL_SECONDS,
    SAMPLE_INTERVAL_SECONDS,
    FilesGuard,
    LeaderElector,
    Leadership,
    Presence,
    Rescuer,
    Sampler,
    Stager,
    start_upkeep,
)
from .messages import (
    AbandonedThreads,
    AttachWorker,
    Boot,
    CheckWorkers,
    Flush,
    Poll,
    ReleaseUnstarted,
    ReplaceWorker,
    Shutdown,
    StopClaiming,
    Tick,
    Wake,
    WorkerDied,
)
from .room import IdleRoom
from .ticker import Periodic, Ticker
from .worker import Worker


@dataclass(frozen=True)
class Service:
    """What ``Boot`` hands back: what the web layer and the tests need."""

    dispatcher: pykka.ActorRef
    rescuer: pykka.ActorRef
    elector: pykka.ActorRef
    stager: pykka.ActorRef
    presence: pykka.ActorRef
    leadership: Leadership
    listener: WakeListener | None
    board: FinishedBoard
    room: IdleRoom  # what this node's idle workers can start now (see ``IdleRoom``)
    abandoned_threads: Callable[[], int]  # callable from any thread


class Supervisor(pykka.ThreadingActor):
    """Owns the lifecycle of the dispatcher, the workers, the upkeep and their threads.

    Thread: its own. ``Boot`` (asked by run.py or a test) runs the migration
    before any other actor exists, so nothing touches the database before
    the schema is ready; a failed migration comes back to the asker as
    ``MigrationError``. Then it starts the dispatcher and the workers, has
    the rescuer take back tasks left ``running`` by dead processes, starts
    the leader election, the store's listener (where the backend has one)
    and the ticker, and wakes the dispatcher.

    ``WorkerDied`` (from a worker's ``on_failure``) starts a replacement in
    the same slot and logs ``worker restarted``; the dispatcher then counts
    the crashed attempt and requeues the rest of that worker's tasks.
    ``ReplaceWorker`` (from the dispatcher, for an attempt past its timeout)
    abandons the worker, whose thread may never return, and starts another;
    the abandoned threads still alive are counted and logged.
    ``CheckWorkers`` (from the ticker) replaces, as a fallback, any worker
    found dead without having reported.

    ``Shutdown`` stops claiming and lets running tasks finish (see
    ``_shutdown``). Stopping the supervisor, by any route (``stop()``,
    ``ActorRegistry.stop_all()``, run.py on a signal), runs ``on_stop``,
    which stops every actor and thread it started and closes their
    database connections; without ``Shutdown`` first, tasks still held are
    taken back by the next start (at once on this host) or by the lease.
    """

    def __init__(
        self,
        config: QueueConfig,
        registry: ActionRegistry,
        store: models.Store,
        start_ticker: bool = True,
        stopping: threading.Event | None = None,
    ) -> None:
        """``stopping`` is set when a shutdown begins; from then on workers
        release the tasks they have not started. Tests may pass their own to
        wait on it. ``start_ticker=False`` leaves every periodic step to the
        test, which sends the messages with the ``now`` it wants."""
        super().__init__()
        self._config = config
        self._registry = registry
        self._store = store
        self._start_ticker = start_ticker
        self._stopping = stopping or threading.Event()
        self._dispatcher: pykka.ActorRef | None = None
        self._workers: list[pykka.ActorRef] = []
        self._slots: list[WorkerSlot] = []
        self._abandoned: list[WorkerSlot] = []  # slots of workers given up on
        self._warned_unknown: set[str] = set()  # unknown action names the workers warned of
        self._upkeep: list[pykka.ActorRef] = []
        self._dead_at_last_check: set[pykka.ActorRef] = set()
        self._ticker: Ticker | None = None
        self._listener: WakeListener | None = None
        self._board = FinishedBoard()
        self._room = IdleRoom()
        self._started_at = clock.now()
        self._presence: pykka.ActorRef | None = None

    def on_receive(self, message: object) -> object:
        """Runs in the supervisor's thread, one message at a time."""
        match message:
            case Boot():
                return self._boot()
            case WorkerDied(worker_index=index, ref=ref, running=running, error=error):
                if not self._stopping.is_set() and self._workers[index] == ref:
                    self._restart_worker(index, running, error, message.traceback)
            case ReplaceWorker(worker_index=index, ref=ref, reason=reason):
                if not self._stopping.is_set() and self._workers[index] == ref:
                    self._abandon_worker(index, reason)
            case AbandonedThreads():
                return self._abandoned_alive()
            case CheckWorkers():
                if not self._stopping.is_set():
                    self._replace_silent_deaths()
            case Shutdown(timeout_seconds=timeout):
                self._shutdown(timeout)
        return None

    def _boot(self) -> Service:
        started = time.perf_counter()
        applied = self._store.migrate()
        log_event(
            "migration complete",
            applied=applied or "none",
            version=models.LATEST_VERSION,
            duration_ms=(time.perf_counter() - started) * 1000,
        )
        config = self._config
        self._dispatcher = Dispatcher.start(
            config,
            self._store,
            self.actor_ref,
            board=self._board,
            registry=self._registry,
            room=self._room,
        )
        for index in range(config.workers):
            self._workers.append(None)
            self._slots.append(WorkerSlot(index))
            ref = self._start_worker(index)
            self._workers[index] = ref
            self._dispatcher.tell(AttachWorker(index, ref, self._slots[index]))
        rescuer = Rescuer.start(
            self._store,
            config.rescue_interval_seconds,
            config.owner,
            config.max_attempts,
            self._dispatcher,
            self._board,
        )
        leadership = Leadership()
        elector = LeaderElector.start(self._store, LEADER_RENEW_SECONDS, config.node, leadership)
        stager = Stager.start(self._store, config.poll_interval_seconds, self._dispatcher)
        presence = Presence.start(
            self._store, config.heartbeat_interval_seconds, self._describe_node, leadership
        )
        sampler = Sampler.start(self._store, SAMPLE_INTERVAL_SECONDS)
        files_guard = FilesGuard.start(self._store, FILES_CHECK_INTERVAL_SECONDS)
        upkeep = start_upkeep(self._store, config, self._registry, self._dispatcher, leadership)
        upkeep.append((files_guard, FILES_CHECK_INTERVAL_SECONDS))
        self._upkeep = [rescuer, elector, stager, presence, sampler, *(r for r, _ in upkeep)]
        metrics.SYSTEM.attach(self._workers_busy_idle, self.abandoned_threads)
        self._presence = presence
        # Tasks left running by dead processes on this host are due at once,
        # and the singleton upkeep need not wait a round to find its leader.
        rescuer.ask(Tick(clock.now()))
        elector.ask(Tick(clock.now()))
        presence.ask(Tick(clock.now()))
        sampler.ask(Tick(clock.now()))
        self._dispatcher.tell(Wake())
        listener = self._store.open_listener()
        if listener is not None:
            self._listener = WakeListener(listener, self._dispatcher, self._board)
            self._listener.start()
        if self._start_ticker:
            self._ticker = Ticker(
                [
                    Periodic(self._dispatcher, config.poll_interval_seconds, Poll),
                    Periodic(rescuer, config.rescue_interval_seconds, Tick),
                    Periodic(elector, LEADER_RENEW_SECONDS, Tick),
                    Periodic(stager, config.poll_interval_seconds, Tick),
                    Periodic(presence, config.heartbeat_interval_seconds, Tick),
                    Periodic(sampler, SAMPLE_INTERVAL_SECONDS, Tick),
                    *(Periodic(ref, interval, Tick) for ref, interval in upkeep),
                    Periodic(self.actor_ref, HEALTH_CHECK_INTERVAL_SECONDS, _check_workers),
                ]
            )
            self._ticker.start()
        log_event(
            "service started",
            node=config.node,
            owner=config.owner,
            workers=config.workers,
            prefetch=config.prefetch,
        )
        return Service(
            self._dispatcher,
            rescuer,
            elector,
            stager,
            presence,
            leadership,
            self._listener,
            self._board,
            self._room,
            self.abandoned_threads,
        )

    def _describe_node(self) -> models.NodeInfo:
        """What this node is and does, for its row in ``nodes`` (read from other threads)."""
        config = self._config
        return models.NodeInfo(
            owner=config.owner,
            name=config.node,
            version=_version(),
            queues=config.queues,
            workers=config.workers,
            busy=sum(1 for slot in list(self._slots) if slot.current is not None),
            started_at=self._started_at,
            draining=self._stopping.is_set(),
        )

    def _start_worker(self, index: int) -> pykka.ActorRef:
        return Worker.start(
            self._slots[index],
            self._config,
            self._store,
            self._registry,
            self._dispatcher,
            self.actor_ref,
            self._stopping,
            self._warned_unknown,
        )

    def _restart_worker(
        self,
        index: int,
        running: Attempt | None,
        error: str,
        traceback: str | None = None,
    ) -> None:
        self._slots[index] = WorkerSlot(index)
        ref = self._start_worker(index)
        self._workers[index] = ref
        log_event(
            "worker restarted",
            logging.WARNING,
            worker=index,
            error=error,
            task_id=running.id if running else "none",
        )
        self._dispatcher.tell(
            AttachWorker(
                index, ref, self._slots[index], crashed=running, error=error, traceback=traceback
            )
        )
        self._dispatcher.tell(Wake())

    def _abandon_worker(self, index: int, reason: str) -> None:
        """The worker's attempt ran past its timeout: its thread may never come back.

        Its slot is marked abandoned (the dispatcher already did, and settled
        its tasks), its ref is asked to stop (it does once its action returns)
        and leaves the actor registry, and a new worker takes the slot, so the
        queue keeps draining.
        """
        old_slot, old_ref = self._slots[index], self._workers[index]
        old_slot.abandoned.set()
        old_ref.stop(block=False)
        # Out of the registry too: nothing should wait on an actor that may never answer
        # (ActorRegistry.stop_all() would, forever).
        pykka.ActorRegistry.unregister(old_ref)
        self._abandoned.append(old_slot)
        self._slots[index] = WorkerSlot(index)
        ref = self._start_worker(index)
        self._workers[index] = ref
        log_event(
            "worker abandoned",
            logging.WARNING,
            worker=index,
            reason=reason,
            abandoned_threads_alive=self._abandoned_alive(),
        )
        self._dispatcher.tell(AttachWorker(index, ref, self._slots[index]))
        self._dispatcher.tell(Wake())

    def _workers_busy_idle(self) -> tuple[int, int]:
        """(busy, idle) workers now; read from any thread."""
        busy = sum(1 for slot in list(self._slots) if slot.current is not None)
        return busy, len(self._slots) - busy

    def abandoned_threads(self) -> int:
        """Abandoned workers' threads still running; read from any thread."""
        return sum(1 for slot in list(self._abandoned) if slot.thread and slot.thread.is_alive())

    def _abandoned_alive(self) -> int:
        """Threads of abandoned workers still running their action."""
        self._abandoned = [
            slot for slot in self._abandoned if slot.thread and slot.thread.is_alive()
        ]
        return len(self._abandoned)

    def _replace_silent_deaths(self) -> None:
        """Replace a worker that died without a ``WorkerDied`` report.

        A dying worker reports from ``on_failure`` just after Pykka marks it
        dead, so a worker is only presumed silent when it is still dead and
        unreported at the next check; otherwise its report (which counts the
        crashed attempt) would race with this fallback.
        """
        dead = {ref for ref in self._workers if not ref.is_alive()}
        for index, ref in enumerate(self._workers):
            if ref in dead and ref in self._dead_at_last_check:
                self._restart_worker(index, None, "found dead")
        self._dead_at_last_check = dead

    def _shutdown(self, timeout_seconds: float) -> None:
        """Stop claiming, let running tasks finish within the timeout, then stop.

        Prefetched tasks that never started are released with their attempt
        refunded. A task still running at the deadline stays ``running``
        under this process's lease: the next start on this host takes it back
        at once, another node after the lease expires.
        """
        deadline = time.monotonic() + timeout_seconds
        self._stopping.set()
        if self._presence is not None:
            self._presence.tell(Tick(clock.now()))  # the node shows as draining meanwhile
        self._stop_threads()
        if self._dispatcher is not None:
            self._dispatcher.ask(StopClaiming())
        for index, ref in enumerate(self._workers):
            try:
                ref.ask(Flush(), timeout=max(0.0, deadline - time.monotonic()))
            except pykka.Timeout:
                # It stopped starting tasks when ``stopping`` was set, so its
                # current task is the only one it will run: give back the rest.
                current = self._slots[index].current
                running_id = None if current is None else current.id
                log_event(
                    "worker still busy at shutdown",
                    logging.WARNING,
                    worker=index,
                    task_id=running_id or "none",
                )
                self._dispatcher.ask(ReleaseUnstarted(index, running_id))
            except pykka.ActorDeadError:
                pass
        if self._dispatcher is not None:
            self._dispatcher.ask(Flush())  # every outcome the workers reported is committed
        self._stop_actors()

    def _stop_threads(self) -> None:
        if self._ticker is not None:
            self._ticker.stop()
        if self._listener is not None:
            self._listener.stop()

    def _stop_actors(self) -> None:
        """Stop the upkeep, the workers, then the dispatcher.

        A worker still busy with an action cannot handle its stop until the
        action returns: its thread is a daemon, so it never keeps the
        process from exiting, and its connection closes with it.
        """
        for ref in self._upkeep:
            ref.stop()
        for ref in self._workers:
            ref.stop(block=False)
        if self._dispatcher is not None:
            self._dispatcher.stop()

    def on_stop(self) -> None:
        """Runs in the supervisor's thread when it is stopped, by whatever route.

        Stops every thread and actor it started (those already stopped are
        skipped) and closes its own connection.
        """
        self._stopping.set()
        self._stop_threads()
        self._stop_actors()
        self._store.close()


def _check_workers(now: float) -> CheckWorkers:
    return CheckWorkers()


def _version() -> str:
    try:
        return metadata.version("taskqueue")
    except metadata.PackageNotFoundError:
        return "unknown"
