"""What a worker reports of an attempt, for the store to settle."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .task import ClaimedTask, Failure


class Ending(StrEnum):
    COMPLETED = "completed"  # the action returned: its result is kept
    FAILED = "failed"  # the action raised (or timed out): retried, or dead
    UNSTARTED = "unstarted"  # never started (stopping, or canceled before it ran): given back


@dataclass(frozen=True)
class Outcome:
    """How one claimed attempt ended, as the worker saw it.

    The store decides the status: a failure becomes ``retrying``, or
    ``dead`` when it was the last attempt or ``permanent``; any ending but a
    completion becomes ``canceled`` when a cancel was asked meanwhile.
    """

    task: ClaimedTask
    ending: Ending
    result_json: str | None = None  # COMPLETED: what the action returned, as JSON
    failure: Failure | None = None  # FAILED: what went wrong
    permanent: bool = False  # FAILED: no retry (the action said so)
    started_at: float | None = None  # unix seconds the action started, if it did
    finished_at: float | None = None  # unix seconds the action ended, if it did
