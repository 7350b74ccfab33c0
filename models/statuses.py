"""Every status a task can be in, and every transition between them.

    (accepted)  ──enqueue, due now─────────▶ queued
    (accepted)  ──enqueue, due later───────▶ scheduled
    scheduled   ──stage, when due──────────▶ queued
    queued      ──claim────────────────────▶ running
    retrying    ──claim────────────────────▶ running
    running     ──complete─────────────────▶ completed
    running     ──fail, attempts left──────▶ retrying
    running     ──fail, none left──────────▶ dead      (or a permanent failure)
    running     ──release, first attempt───▶ queued
    running     ──release, a later attempt─▶ retrying
    running     ──rescue, attempts left────▶ queued
    running     ──rescue, none left────────▶ dead
    running     ──fail, release or rescue, a cancel was asked──▶ canceled
    scheduled, queued, retrying ──cancel───▶ canceled
    completed, dead, canceled ──retry by hand──▶ queued

- ``stage``: a delayed task becomes due; the stager does it for every node.
- ``claim``: a process takes a due task and holds a lease on it; the
  attempt counts from here, so a process that dies mid-task still used it.
- ``complete`` / ``fail``: the holder of the claim records the outcome.
- ``release``: the holder gives back an attempt it never started (a
  crashed worker's prefetched tasks, a graceful stop); the attempt is
  refunded, and the task is ``retrying`` again if an earlier attempt failed.
- ``rescue``: the lease expired or its process is known dead; the
  interrupted attempt counts (and a task whose cancel was asked is canceled).
- ``cancel``: at once when no attempt runs; a running task is only marked
  (``cancel_requested``) and becomes canceled when its attempt ends (fail,
  release or rescue), unless that attempt completed it.
- ``retry``: a finished task goes back to the queue by hand, with a fresh
  budget of attempts (its attempts keep counting; ``max_attempts`` rises).

The database enforces ``STATUSES`` with a CHECK constraint, and every SQL
statement takes its status values from here (``sql_list``), so a new status
is an edit of this module plus a migration.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Status(StrEnum):
    SCHEDULED = "scheduled"  # committed, due later (``run_at``)
    QUEUED = "queued"  # committed and due: waiting for a worker
    RUNNING = "running"  # claimed under a lease (executing, or prefetched in a worker's inbox)
    RETRYING = "retrying"  # an attempt failed; due again after its backoff
    COMPLETED = "completed"  # final: ``result`` holds what the action returned
    DEAD = "dead"  # final: the last allowed attempt failed; ``error`` says why
    CANCELED = "canceled"  # final: canceled by hand before it completed


STATUSES: tuple[Status, ...] = tuple(Status)

# Due tasks a claim may take (the claim index holds exactly these rows).
CLAIMABLE: tuple[Status, ...] = (Status.QUEUED, Status.RETRYING)
# Waiting for a worker or for their time: what a cancel ends at once.
WAITING: tuple[Status, ...] = (Status.SCHEDULED, Status.QUEUED, Status.RETRYING)
# Final statuses: only a retry by hand moves a task out of them.
FINISHED: tuple[Status, ...] = (Status.COMPLETED, Status.DEAD, Status.CANCELED)

# Every transition a store makes, by operation, as in the table above. The
# contract tests check each store operation against it.
TRANSITIONS: dict[str, frozenset[tuple[Status, Status]]] = {
    "stage": frozenset({(Status.SCHEDULED, Status.QUEUED)}),
    "claim": frozenset({(Status.QUEUED, Status.RUNNING), (Status.RETRYING, Status.RUNNING)}),
    "complete": frozenset({(Status.RUNNING, Status.COMPLETED)}),
    "fail": frozenset(
        {
            (Status.RUNNING, Status.RETRYING),
            (Status.RUNNING, Status.DEAD),
            (Status.RUNNING, Status.CANCELED),
        }
    ),
    "release": frozenset(
        {
            (Status.RUNNING, Status.QUEUED),
            (Status.RUNNING, Status.RETRYING),
            (Status.RUNNING, Status.CANCELED),
        }
    ),
    "rescue": frozenset(
        {
            (Status.RUNNING, Status.QUEUED),
            (Status.RUNNING, Status.DEAD),
            (Status.RUNNING, Status.CANCELED),
        }
    ),
    "cancel": frozenset({(before, Status.CANCELED) for before in WAITING}),
    "retry": frozenset({(before, Status.QUEUED) for before in FINISHED}),
}


def allowed(operation: str, before: Status, after: Status) -> bool:
    """Whether ``operation`` may move a task from ``before`` to ``after``
    (leaving it where it was, as a fenced-out operation does, always is)."""
    return before == after or (before, after) in TRANSITIONS[operation]


def sql_list(statuses: Iterable[Status]) -> str:
    """``'queued', 'retrying'``: status literals for SQL.

    Literals rather than bound parameters, because a partial index is only
    used when the query repeats its WHERE clause's values verbatim.
    """
    return ", ".join(f"'{status.value}'" for status in statuses)
