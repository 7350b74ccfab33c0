"""The dispatcher actor: claims due tasks and hands them round-robin to the workers."""

from __future__ import annotations

import logging
import time

import pykka

import models

from .config import QueueConfig
from .log import log_event
from .messages import (
    AttachWorker,
    HeldCounts,
    Poll,
    ReleaseUnstarted,
    RunTask,
    StopClaiming,
    TasksFinished,
    Wake,
)


class Dispatcher(pykka.ThreadingActor):
    """Keeps every worker fed with at most ``prefetch`` unfinished tasks.

    Thread: its own. Sent ``Wake`` by web handlers after a commit (and by the
    listener and the rescuer), ``Poll`` by the ticker, ``TasksFinished`` by
    workers and ``AttachWorker`` by the supervisor.

    It claims only as many tasks as the workers have room for, so the backlog
    stays in the database and memory stays flat however long it is. Each
    claim is one atomic statement, so several processes on one database
    never run the same attempt. It renews the leases of the tasks it holds
    every ``lease_seconds / 3``.

    Errors from the database are logged and the step is retried later (a
    claim at the next wake or poll, a release at the next poll): the
    dispatcher never dies of them, since without it no task would run.
    """

    def __init__(self, config: QueueConfig, store: models.Store) -> None:
        super().__init__()
        self._config = config
        self._store = store
        self._workers: list[pykka.ActorRef | None] = [None] * config.workers
        self._held: list[dict[str, models.ClaimedTask]] = [{} for _ in range(config.workers)]
        self._next_worker = 0
        self._claiming = True
        self._last_heartbeat = time.time()
        self._unreleased: list[models.ClaimedTask] = []  # to give back once the database lets us

    def on_receive(self, message: object) -> object:
        """Runs in the dispatcher's thread, one message at a time."""
        match message:
            case Wake(now=now):
                self._fill(time.time() if now is None else now)
            case Poll(now=now):
                if self._unreleased:
                    self._give_back([])
                self._renew_leases(now)
                self._fill(now)
            case TasksFinished(worker_index=index, task_ids=task_ids):
                held = self._held[index]
                for task_id in task_ids:
                    held.pop(task_id, None)
                self._fill(time.time())
            case AttachWorker():
                self._attach(message)  # the sender wakes us once all its workers are attached
            case StopClaiming():
                self._claiming = False
            case ReleaseUnstarted(worker_index=index, running_id=running_id):
                held = self._held[index]
                unstarted = [task for task_id, task in held.items() if task_id != running_id]
                for task in unstarted:
                    del held[task.id]
                self._give_back(unstarted)
            case HeldCounts():
                return [len(held) for held in self._held]
        return None

    def on_stop(self) -> None:
        """Runs in the dispatcher's thread when it is stopped: closes its connection."""
        self._store.close()

    def _free_slots(self) -> int:
        prefetch = self._config.prefetch
        return sum(
            prefetch - len(held)
            for ref, held in zip(self._workers, self._held, strict=True)
            if ref is not None and ref.is_alive()
        )

    def _fill(self, now: float) -> None:
        if not self._claiming:
            return
        free = self._free_slots()
        if free <= 0:
            return
        try:
            tasks = self._store.claim(
                self._config.owner, self._config.node, free, now, self._config.lease_seconds
            )
        except Exception as exc:  # noqa: BLE001 - a dead dispatcher stops all work; retried later
            self._store.discard_connection()
            log_event("claim failed", logging.WARNING, error=repr(exc))
            return
        for task in tasks:
            self._hand_out(task)

    def _hand_out(self, task: models.ClaimedTask) -> None:
        """Round-robin over live workers that have room; ``_fill`` ensured one has."""
        count = len(self._workers)
        for _ in range(count):
            index = self._next_worker
            self._next_worker = (index + 1) % count
            ref = self._workers[index]
            if ref is None or len(self._held[index]) >= self._config.prefetch:
                continue
            if not ref.is_alive():  # its replacement's AttachWorker is on its way
                continue
            self._held[index][task.id] = task
            try:
                ref.tell(RunTask(task))
            except pykka.ActorDeadError:
                # The worker died since _free_slots looked; its replacement's
                # AttachWorker takes this task back together with the rest.
                pass
            return
        self._give_back([task])

    def _attach(self, message: AttachWorker) -> None:
        index = message.worker_index
        orphans = self._held[index]
        self._held[index] = {}
        self._workers[index] = message.ref
        crashed = message.crashed
        if crashed is not None and orphans.pop(crashed.id, None) is not None:
            error = f"worker crashed: {message.error}"
            try:
                status = self._store.fail(
                    crashed,
                    models.Failure(error, message.traceback),
                    time.time(),
                    self._config.max_attempts,
                    self._config.retry_backoff_seconds,
                )
            except Exception as exc:  # noqa: BLE001 - its lease expires and the rescue counts it
                self._store.discard_connection()
                status = f"unrecorded ({exc!r})"
            log_event(
                "task failed",
                logging.WARNING,
                task_id=crashed.id,
                action=crashed.action,
                attempt=crashed.attempts,
                status=status or "lease lost",
                error=error,
            )
        self._give_back(list(orphans.values()))

    def _give_back(self, tasks: list[models.ClaimedTask]) -> None:
        """Release ``tasks`` (and any whose release failed before); retried at each poll."""
        tasks = self._unreleased + tasks
        self._unreleased = []
        try:
            self._store.release(tasks)
        except Exception as exc:  # noqa: BLE001 - retried at the next poll
            self._store.discard_connection()
            self._unreleased = tasks
            log_event("release failed", logging.WARNING, tasks=len(tasks), error=repr(exc))

    def _renew_leases(self, now: float) -> None:
        if now - self._last_heartbeat < self._config.heartbeat_interval_seconds:
            return
        self._last_heartbeat = now
        held_ids = [task_id for held in self._held for task_id in held]
        held_ids += [task.id for task in self._unreleased]
        try:
            self._store.heartbeat(self._config.owner, held_ids, now, self._config.lease_seconds)
        except Exception as exc:  # noqa: BLE001 - retried at the next poll
            self._store.discard_connection()
            log_event("lease renewal failed", logging.WARNING, error=repr(exc))
