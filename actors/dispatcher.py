"""The dispatcher actor: claims due tasks, hands them round-robin to the workers, and
commits what became of them."""

from __future__ import annotations

import logging
import random
import time

import pykka

import models
from models import clock

from . import metrics
from .actions import ActionRegistry
from .alarm import Alarm
from .attempt import Attempt, WorkerSlot
from .config import (
    CLAIM_AHEAD_MAX_RUN_SECONDS,
    CLAIM_AHEAD_ROUNDS,
    MAX_COMMIT_BATCH,
    MAX_COMMIT_DELAY_SECONDS,
    REFILL_AT_ROUNDS,
    RUN_TIME_SMOOTHING,
    QueueConfig,
)
from .finished import FinishedBoard
from .log import log_event
from .messages import (
    AttachWorker,
    CancelRequested,
    Claimed,
    CommitDue,
    Executed,
    Flush,
    HeldCounts,
    Poll,
    QueuesChanged,
    ReleaseUnstarted,
    ReplaceWorker,
    RunTask,
    StopClaiming,
    Wake,
)
from .room import IdleRoom


class Dispatcher(pykka.ThreadingActor):
    """Keeps every worker fed with at most ``prefetch`` unfinished tasks, and commits
    their outcomes.

    Thread: its own. Sent ``Wake`` by web handlers after a commit (and by the
    listener and the upkeep), ``Poll`` by the ticker, ``Executed`` by
    workers after each attempt, ``AttachWorker`` by the supervisor.

    It claims only as many tasks as the workers have room for, so the backlog
    stays in the database and memory stays flat however long it is. A slot
    is free again as soon as its attempt ran; the outcome waits in the
    dispatcher for its commit, at most ``MAX_COMMIT_DELAY_SECONDS`` (or until
    ``MAX_COMMIT_BATCH`` wait, or no message is left to handle), and the
    commit carries the next claim in the same transaction. Until committed,
    an outcome's task stays ``running`` under this process's lease, which
    the dispatcher renews every ``lease_seconds / 3``; a crash before the
    commit makes it run again (at-least-once).

    While attempts typically run under ``CLAIM_AHEAD_MAX_RUN_SECONDS``, a
    claim also takes up to ``CLAIM_AHEAD_ROUNDS`` times what the workers may
    hold, kept in the dispatcher (``running`` under the same lease) and
    handed to the first worker with room: the workers then run through a
    commit instead of waiting for it. And with nothing else to do, the
    dispatcher commits and claims only once the tasks held and kept ahead
    are down to ``REFILL_AT_ROUNDS`` times the workers' room, so that a
    commit settles a group of outcomes rather than the one or two that
    finished during the last; its alarm makes sure that no outcome waits
    longer than ``MAX_COMMIT_DELAY_SECONDS`` even when no message comes
    (the next tasks turned out slow). Longer tasks are claimed only for the
    workers' room and committed as soon as nothing else is to be done, so
    that another node's idle workers are never kept from them; the typical
    run time is a moving average of the attempts this node ran. Tasks kept
    ahead are given back at a stop, and a cancel takes them at once.

    At each ``Poll`` it also reads which queues are paused (so every node
    obeys a pause within ``poll_interval``), hears of cancels asked for its
    running tasks, and gives up on an attempt that ran past its timeout:
    the attempt fails as ``timed out after N s``, its worker's other tasks
    go back, and the supervisor replaces the worker.

    Errors from the database are logged and the step is retried later: the
    dispatcher never dies of them, since without it no task would run.
    """

    def __init__(
        self,
        config: QueueConfig,
        store: models.Store,
        supervisor: pykka.ActorRef | None = None,
        rng: random.Random | None = None,
        board: FinishedBoard | None = None,
        registry: ActionRegistry | None = None,
        room: IdleRoom | None = None,
    ) -> None:
        super().__init__()
        self._config = config
        self._store = store
        self._supervisor = supervisor
        self._board = board
        self._registry = registry
        self._room = room
        self._room_idle = -1  # what it last published; -1: nothing yet
        self._rng = rng
        self._workers: list[pykka.ActorRef | None] = [None] * config.workers
        self._slots: list[WorkerSlot | None] = [None] * config.workers
        self._held: list[dict[str, Attempt]] = [{} for _ in range(config.workers)]
        self._ahead: dict[str, Attempt] = {}  # claimed ahead, best first, for the next free worker
        self._typical_run: float | None = None  # seconds; None until an attempt ran
        self._next_worker = 0
        self._claiming = True
        self._maybe_due = True  # False after a claim found fewer due tasks than it asked for
        self._last_claim = float("-inf")  # monotonic
        self._pending: list[models.Outcome] = []
        self._pending_since: float | None = None  # monotonic time of the oldest uncommitted one
        self._alarm: Alarm | None = None  # CommitDue when an outcome waited long enough
        self._alarm_since: float | None = None  # the _pending_since the alarm is set for
        self._unusual = False  # an outcome pending is not a completion (a failure, a cancel…)
        self._woken_at: float | None = None  # the latest ``Wake.now`` not yet claimed at
        self._paused: set[str] = set()
        self._known_queues: set[str] = {models.DEFAULT_QUEUE}
        self._last_heartbeat = clock.now()

    # Messages ------------------------------------------------------------

    def on_start(self) -> None:
        """Runs in the dispatcher's thread first: learns the queues and which are paused."""
        self._alarm = Alarm(self.actor_ref, CommitDue(), name="dispatcher-alarm")
        self._read_queues()
        self._publish_room()

    def on_receive(self, message: object) -> object:
        """Runs in the dispatcher's thread, one message at a time.

        Every message but ``AttachWorker`` ends with a step (commit and claim
        when due): a step deferred because more messages were waiting is
        taken by the last of them.
        """
        now = clock.now()
        match message:
            case Executed(worker_index=index, outcome=outcome):
                self._held[index].pop(outcome.task.id, None)
                self._add_pending([outcome])
                self._learn_run_time(outcome)
                self._feed()
            case Wake(now=woken_at, queues=queues):
                self._known_queues |= queues
                self._maybe_due = True
                if woken_at is not None:  # kept until a claim: a step may be deferred
                    self._woken_at = max(woken_at, self._woken_at or woken_at)
            case Claimed(tasks=tasks):
                self._known_queues |= {task.queue for task in tasks}
                attempts = [Attempt(task) for task in tasks]
                if self._claiming:
                    for attempt in attempts:
                        self._hand_out(attempt)
                else:  # stopping: given back at the next commit
                    self._add_pending([_unstarted(attempt) for attempt in attempts])
            case Poll(now=polled_at):
                self._poll(polled_at)
                return None
            case AttachWorker():
                self._attach(message)  # the sender wakes us once all its workers are attached
                return None
            case CancelRequested(task_ids=task_ids):
                self._cancel(set(task_ids))
            case QueuesChanged():
                self._read_queues()
                self._maybe_due = True
            case Flush():
                self._commit(now)
            case CommitDue():
                pass  # the step below finds the oldest outcome due
            case StopClaiming():
                self._claiming = False
                self._give_back_ahead()
                self._commit(now)
            case ReleaseUnstarted(worker_index=index, running_id=running_id):
                held = self._held[index]
                unstarted = [held.pop(i) for i in list(held) if i != running_id]
                self._add_pending([_unstarted(a) for a in unstarted])
                self._give_back_ahead()
                self._commit(now)
            case HeldCounts():
                self._step(self._claim_time(now))  # what waited for this message is done first
                self._publish_room()
                return [len(held) for held in self._held]
        self._step(self._claim_time(now))
        self._publish_room()
        return None

    def on_stop(self) -> None:
        """Runs in the dispatcher's thread when it is stopped: commits what it holds,
        then closes its connection."""
        if self._alarm is not None:
            self._alarm.stop()
        if self._room is not None:
            self._room.publish(0, ())
        self._give_back_ahead()
        self._commit(clock.now())
        self._store.close()

    # Claim and commit ------------------------------------------------------

    def _claim_time(self, now: float) -> float:
        """``now``, or a ``Wake``'s later time until a claim has used it: a task made due
        at that time (a rescue, a schedule's tick) is due for the next claim, even when
        that claim waited for more messages to pass."""
        return now if self._woken_at is None else max(now, self._woken_at)

    def _add_pending(self, outcomes: list[models.Outcome]) -> None:
        if outcomes and self._pending_since is None:
            self._pending_since = time.monotonic()
        self._pending += outcomes
        if any(outcome.ending != models.Ending.COMPLETED for outcome in outcomes):
            self._maybe_due = True  # a retry or a task given back may be due at once
            self._unusual = True

    def _step(self, now: float) -> None:
        """Commit the outcomes if they are due, and claim if there is room; one transaction.

        Outcomes are due when no message waits (nothing more to add to the
        group) and the workers are running low (``_running_low``) or one of
        them is not a completion (a failure, a cancel, a task given back), or
        ``MAX_COMMIT_BATCH`` wait, or the oldest has waited
        ``MAX_COMMIT_DELAY_SECONDS``. A claim waits for the same moment, so a
        burst of wakes or outcomes makes one claim, not one each. Outcomes
        left waiting set the alarm for their deadline.
        """
        quiet = self.actor_inbox.empty() and (self._unusual or self._running_low())
        since = self._pending_since
        commit = bool(self._pending) and (
            quiet
            or len(self._pending) >= MAX_COMMIT_BATCH
            or time.monotonic() - since >= MAX_COMMIT_DELAY_SECONDS
        )
        claim = (
            self._claiming
            and self._maybe_due
            and self._free_slots() > 0
            and (quiet or commit or time.monotonic() - self._last_claim >= MAX_COMMIT_DELAY_SECONDS)
        )
        if commit or claim:
            self._commit(now, claim=claim)
        since = self._pending_since
        if since is not None and since != self._alarm_since and self._alarm is not None:
            self._alarm_since = since
            self._alarm.set(since + MAX_COMMIT_DELAY_SECONDS)

    def _running_low(self) -> bool:
        """Whether the tasks the workers hold and those kept ahead are down to
        ``REFILL_AT_ROUNDS`` times the workers' room; always, while tasks are long."""
        if not self._claims_ahead():
            return True
        live = self._live_held()
        held = len(self._ahead) + sum(len(held) for held in live)
        return held <= REFILL_AT_ROUNDS * self._config.prefetch * len(live)

    def _commit(self, now: float, claim: bool = False) -> None:
        """Settle every pending outcome, and claim if asked, in one transaction."""
        outcomes = self._pending
        request = self._claim_request() if claim and self._claiming else None
        if not outcomes and request is None:
            return
        config = self._config
        try:
            settled = self._store.settle(
                outcomes,
                now,
                request,
                config.max_attempts,
                config.retry_backoff_seconds,
                self._rng,
                config.node,
            )
        except Exception as exc:  # noqa: BLE001 - a dead dispatcher stops all work; retried later
            self._store.discard_connection()
            log_event("commit failed", logging.WARNING, outcomes=len(outcomes), error=repr(exc))
            return
        if outcomes:
            self._log_settled(outcomes, settled.statuses)
            if self._registry is not None:
                metrics.observe_settled(self._registry, outcomes, settled.statuses)
            if self._board is not None:
                self._board.publish(
                    i for i, status in settled.statuses.items() if status in models.FINISHED
                )
            self._pending = self._pending[len(outcomes) :]
            self._pending_since = time.monotonic() if self._pending else None
            self._unusual = any(o.ending != models.Ending.COMPLETED for o in self._pending)
        if request is not None:
            self._woken_at = None
            self._last_claim = time.monotonic()
            self._maybe_due = len(settled.claimed) == request.limit
            for task in settled.claimed:
                self._hand_out(Attempt(task))

    def _claim_request(self) -> models.ClaimRequest | None:
        queues = self._queues()
        free = self._free_slots()
        if not queues or free <= 0:
            return None
        config = self._config
        return models.ClaimRequest(config.owner, config.node, free, queues, config.lease_seconds)

    def _queues(self) -> list[str]:
        """The queues to claim from: served by this node and not paused."""
        served = self._config.queues
        known = self._known_queues if served is None else set(served)
        return sorted(known - self._paused)

    def _free_slots(self) -> int:
        """Room in the live workers, and ahead of them while tasks are short."""
        prefetch = self._config.prefetch
        live = self._live_held()
        room = sum(prefetch - len(held) for held in live)
        if self._claims_ahead():
            room += max(0, CLAIM_AHEAD_ROUNDS * prefetch * len(live) - len(self._ahead))
        return room

    def _live_held(self) -> list[dict[str, Attempt]]:
        """What each live worker holds."""
        return [
            held
            for ref, held in zip(self._workers, self._held, strict=True)
            if ref is not None and ref.is_alive()
        ]

    def _claims_ahead(self) -> bool:
        typical = self._typical_run
        return typical is not None and typical < CLAIM_AHEAD_MAX_RUN_SECONDS

    def _publish_room(self) -> None:
        """Tell the intake how many new tasks the idle workers could start now (see
        ``IdleRoom``): none while tasks wait ahead of them or claiming has stopped."""
        if self._room is None:
            return
        idle = 0
        if self._claiming and not self._ahead:
            idle = sum(1 for held in self._live_held() if not held)
        if idle == 0 and self._room_idle == 0:  # busy, as it was: nothing to say (a drain)
            return
        self._room_idle = idle
        self._room.publish(idle, self._queues() if idle else ())

    def _learn_run_time(self, outcome: models.Outcome) -> None:
        if outcome.started_at is None or outcome.finished_at is None:
            return
        ran = max(0.0, outcome.finished_at - outcome.started_at)
        typical = self._typical_run
        self._typical_run = (
            ran if typical is None else typical + RUN_TIME_SMOOTHING * (ran - typical)
        )

    def _hand_out(self, attempt: Attempt) -> None:
        """To the next live worker with room (round-robin), else ahead of them; the
        claim asked for no more."""
        if not self._ahead and self._give(attempt):
            return
        if self._claims_ahead() or self._ahead:
            self._ahead[attempt.id] = attempt  # behind those claimed before it
            self._feed()
            return
        self._add_pending([_unstarted(attempt)])

    def _feed(self) -> None:
        """Hand the tasks kept ahead, best first, to the workers that have room."""
        while self._ahead:
            attempt = next(iter(self._ahead.values()))
            if not self._give(attempt):
                return
            del self._ahead[attempt.id]

    def _give(self, attempt: Attempt) -> bool:
        count = len(self._workers)
        for _ in range(count):
            index = self._next_worker
            self._next_worker = (index + 1) % count
            ref = self._workers[index]
            if ref is None or len(self._held[index]) >= self._config.prefetch:
                continue
            if not ref.is_alive():  # its replacement's AttachWorker is on its way
                continue
            self._held[index][attempt.id] = attempt
            try:
                ref.tell(RunTask(attempt))
            except pykka.ActorDeadError:
                # The worker died since the claim; its replacement's
                # AttachWorker takes this task back together with the rest.
                pass
            return True
        return False

    def _give_back_ahead(self) -> None:
        self._add_pending([_unstarted(attempt) for attempt in self._ahead.values()])
        self._ahead.clear()

    def _log_settled(self, outcomes: list[models.Outcome], statuses: dict) -> None:
        for outcome in outcomes:
            status = statuses.get(outcome.task.id)
            if status is None:
                event, level = "outcome discarded: claim lost", logging.WARNING
            elif status == models.Status.DEAD:
                event, level = "task dead", logging.WARNING
            elif status == models.Status.CANCELED:
                event, level = "task canceled", logging.INFO
            else:
                continue
            log_event(
                event,
                level,
                task_id=outcome.task.id,
                attempt=outcome.task.attempts,
                error=outcome.failure.error if outcome.failure else "none",
            )

    # Workers -----------------------------------------------------------------

    def _attach(self, message: AttachWorker) -> None:
        index = message.worker_index
        orphans = self._held[index]
        self._held[index] = {}
        self._workers[index] = message.ref
        self._slots[index] = message.slot
        crashed = message.crashed
        outcomes = []
        # The crashed attempt by its claim, not its task: a report naming an attempt
        # of this task that is no longer the one held (it was settled, and a newer
        # attempt claimed) must not take the newer one with it. That newer attempt
        # never ran: it is given back below with the others.
        held = None if crashed is None else orphans.get(crashed.id)
        if held is not None and held.task.token == crashed.task.token:
            del orphans[crashed.id]
            failure = models.Failure(f"worker crashed: {message.error}", message.traceback)
            outcomes.append(models.Outcome(crashed.task, models.Ending.FAILED, failure=failure))
            log_event(
                "task failed",
                logging.WARNING,
                task_id=crashed.id,
                action=crashed.task.action,
                attempt=crashed.task.attempts,
                error=failure.error,
            )
        outcomes += [_unstarted(attempt) for attempt in orphans.values()]
        self._add_pending(outcomes)
        self._feed()
        if outcomes:
            self._commit(clock.now())

    def _time_out(self, now: float) -> None:
        """Give up on attempts past their timeout: fail them, give back what their
        workers held behind them, and have the supervisor replace those workers."""
        for index, slot in enumerate(self._slots):
            if slot is None or slot.overdue_by(now) is None:
                continue
            attempt = slot.current
            if attempt is None:
                continue
            # Whatever the worker does from now on is thrown away, before anything
            # it holds is given back: it must not start one of those tasks too.
            slot.abandoned.set()
            attempt.cancelled.set()
            timeout = attempt.task.timeout_seconds
            failure = models.Failure(f"timed out after {timeout:g} s")
            held = self._held[index]
            held.pop(attempt.id, None)
            self._add_pending(
                [models.Outcome(attempt.task, models.Ending.FAILED, failure=failure)]
                + [_unstarted(other) for other in held.values()]
            )
            ref = self._workers[index]
            self._held[index] = {}
            self._workers[index] = None
            self._slots[index] = None
            log_event(
                "task timed out",
                logging.WARNING,
                task_id=attempt.id,
                attempt=attempt.task.attempts,
                worker=index,
                timeout_s=timeout,
            )
            if self._supervisor is not None and ref is not None:
                self._supervisor.tell(ReplaceWorker(index, ref, failure.error))

    # Poll ----------------------------------------------------------------------

    def _poll(self, now: float) -> None:
        self._time_out(now)
        self._read_queues()
        try:
            self._cancel(set(self._store.cancel_requests(self._config.owner)))
        except models.StorageError as exc:  # heard at the next poll
            self._store.discard_connection()
            log_event("reading cancel requests failed", logging.WARNING, error=repr(exc))
        self._renew_leases(now)
        self._maybe_due = True
        self._commit(self._claim_time(now), claim=True)

    def _read_queues(self) -> None:
        """Which queues exist and which are paused; kept as they were if the database
        cannot say (read again at the next poll)."""
        try:
            states = self._store.queue_states()
        except models.StorageError as exc:
            self._store.discard_connection()
            log_event("reading queues failed", logging.WARNING, error=repr(exc))
            return
        self._known_queues |= {state.name for state in states}
        self._paused = {state.name for state in states if state.paused}

    def _cancel(self, task_ids: set[str]) -> None:
        if not task_ids:
            return
        # Never started: given back, and the settle makes them canceled
        self._add_pending([_unstarted(self._ahead.pop(i)) for i in task_ids & self._ahead.keys()])
        for held in self._held:
            for task_id in task_ids & held.keys():
                held[task_id].cancelled.set()

    def _renew_leases(self, now: float) -> None:
        if now - self._last_heartbeat < self._config.heartbeat_interval_seconds:
            return
        self._last_heartbeat = now
        held_ids = [task_id for held in self._held for task_id in held]
        held_ids += list(self._ahead)
        held_ids += [outcome.task.id for outcome in self._pending]
        try:
            self._store.heartbeat(self._config.owner, held_ids, now, self._config.lease_seconds)
        except Exception as exc:  # noqa: BLE001 - retried at the next poll
            self._store.discard_connection()
            log_event("lease renewal failed", logging.WARNING, error=repr(exc))


def _unstarted(attempt: Attempt) -> models.Outcome:
    return models.Outcome(attempt.task, models.Ending.UNSTARTED)
