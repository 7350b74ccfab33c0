"""What each transition writes into a task's history (``task_events``), in its own
transaction, so that the history never disagrees with the row.

An event is ``(task_id, at, kind, detail)``. ``created`` is not stored: it
is when the task was accepted, which its id tells to the millisecond (the
row's ``created_at`` is whole seconds), and ``GET /tasks/{id}/events``
derives it from there (as it derives ``paused_while_due`` from the
queue's pause history). Kinds, in the order a task meets them:

    scheduled        accepted, due later          {run_at}
    claimed          a node took an attempt       {node, attempt}
    started          its worker started it        {attempt, waited_seconds}
    progress         the action reported          {fraction, message} (sampled)
    completed        the attempt returned         {attempt, duration_seconds}
    failed           the attempt raised           {attempt, error, then: retrying|dead|canceled}
    timed_out        it ran past its timeout      {attempt, timeout_seconds, then}
    released         given back, never started    {attempt, then}
    rescued          its process died or its lease expired  {attempt, reason, then}
    cancel_requested a cancel reached it running  {by}
    canceled         canceled while waiting       {by, from}
    retried_by_hand  sent back by hand            {by, from}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .outcomes import Ending, Outcome
from .statuses import Status
from .task import ClaimedTask

Event = tuple[str, float, str, dict[str, Any] | None]

# Every kind of event GET /tasks/{id}/events shows (the last two derived, not stored).
KINDS = (
    "created",
    "scheduled",
    "claimed",
    "started",
    "progress",
    "completed",
    "failed",
    "timed_out",
    "released",
    "rescued",
    "cancel_requested",
    "canceled",
    "retried_by_hand",
    "paused_while_due",
)

TIMED_OUT_PREFIX = "timed out after "


def claimed(tasks: Iterable[ClaimedTask], node: str, now: float) -> list[Event]:
    return [(task.id, now, "claimed", {"node": node, "attempt": task.attempts}) for task in tasks]


def settled(outcomes: Sequence[Outcome], statuses: Mapping[str, Status], now: float) -> list[Event]:
    """The events of the outcomes whose claim held (those in ``statuses``)."""
    events: list[Event] = []
    for outcome in outcomes:
        task = outcome.task
        status = statuses.get(task.id)
        if status is None:
            continue
        attempt = task.attempts
        if outcome.started_at is not None:
            waited = None if task.due_at is None else max(0.0, outcome.started_at - task.due_at)
            events.append(
                (
                    task.id,
                    outcome.started_at,
                    "started",
                    {"attempt": attempt, "waited_seconds": waited},
                )
            )
        ended = outcome.finished_at or now
        if outcome.ending == Ending.COMPLETED:
            duration = None if outcome.started_at is None else ended - outcome.started_at
            events.append(
                (task.id, ended, "completed", {"attempt": attempt, "duration_seconds": duration})
            )
        elif outcome.ending == Ending.FAILED:
            error = outcome.failure.error if outcome.failure else ""
            if error.startswith(TIMED_OUT_PREFIX):
                detail = {"attempt": attempt, "timeout_seconds": task.timeout_seconds}
                events.append((task.id, now, "timed_out", {**detail, "then": str(status)}))
            else:
                detail = {"attempt": attempt, "error": error, "then": str(status)}
                events.append((task.id, ended, "failed", detail))
        else:
            events.append((task.id, now, "released", {"attempt": attempt, "then": str(status)}))
    return events


def rescued(rows: Iterable[tuple[str, str, int, str]], now: float) -> list[Event]:
    """``(id, new status, attempt, former owner)`` rows of a rescue."""
    return [
        (
            task_id,
            now,
            "rescued",
            {
                "attempt": attempt,
                "reason": f"{owner} died or its lease expired",
                "then": str(status),
            },
        )
        for task_id, status, attempt, owner in rows
    ]
