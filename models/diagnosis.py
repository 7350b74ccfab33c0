"""Why isn't this task running? Every reason that applies, in order of importance.

Each reason has a code from ``CODES`` and a message in plain words with the
numbers that matter. ``runnable`` is true when nothing but other tasks
stands in its way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import clock
from .statuses import CLAIMABLE, Status, sql_list

if TYPE_CHECKING:
    from .store import Store

CODES = (
    "completed",  # finished: it completed
    "dead",  # finished: its last attempt failed
    "canceled",  # finished: it was canceled
    "cancel_requested",  # running, asked to stop: it ends canceled unless it completes
    "running",  # running on a node
    "lease_expired_awaiting_rescue",  # its node went silent; a rescue will take it back
    "queue_paused",  # its queue is paused
    "no_live_node",  # no node has been seen lately
    "no_node_serves_queue",  # live nodes there are, but none serves its queue
    "scheduled",  # due later
    "backoff",  # an attempt failed; the next is due later
    "workers_busy",  # due, waiting its turn behind other tasks
)
AHEAD_COUNT_CAP = 100_000  # counting the tasks ahead stops here


@dataclass(frozen=True)
class Reason:
    code: str
    message: str


@dataclass
class Diagnosis:
    status: str
    runnable: bool = False
    reasons: list[Reason] = field(default_factory=list)

    def add(self, code: str, message: str) -> None:
        assert code in CODES, code
        self.reasons.append(Reason(code, message))

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "runnable": self.runnable,
            "reasons": [{"code": r.code, "message": r.message} for r in self.reasons],
        }


def diagnose(
    store: Store,
    task_id: str,
    lease_seconds: float,
    lost_after_seconds: float,
    now: float | None = None,
) -> Diagnosis:
    """The diagnosis of one task as of ``now``; raises ``TaskNotFound``."""
    now = store.database_now(clock.now() if now is None else now)
    task = store.get_task(task_id)
    status = Status(task["status"])
    found = Diagnosis(str(status))
    if status == Status.COMPLETED:
        found.add(
            "completed",
            f"completed at {_clock(task['processed_at'])} after {_attempts(task['attempts'])}",
        )
    elif status == Status.DEAD:
        found.add(
            "dead",
            f"dead after {task['attempts']} of {task['max_attempts'] or task['attempts']} "
            f"attempts; the last error: {task['error']} (POST /tasks/{task_id}/retry)",
        )
    elif status == Status.CANCELED:
        found.add("canceled", _canceled(store, task_id, task))
    elif status == Status.RUNNING:
        _running(store, task_id, task, found, lease_seconds, now)
    else:
        _waiting(store, task, found, lost_after_seconds, now)
    return found


def _running(
    store: Store,
    task_id: str,
    task: dict[str, Any],
    found: Diagnosis,
    lease_seconds: float,
    now: float,
) -> None:
    p = store.db.param
    owner, expires = store.db.execute_sql(
        f"SELECT lease_owner, lease_expires_at FROM tasks WHERE id = {p}", (task_id,)
    ).fetchone()
    claimed = [e["at"] for e in store.events_of(task_id, now) if e["kind"] == "claimed"]
    since = f" since {_clock(claimed[-1])}" if claimed else ""
    if task["cancel_requested"]:
        found.add(
            "cancel_requested",
            "a cancel was asked: it ends canceled when this attempt ends, unless it completes",
        )
    heartbeat = None if expires is None else expires - lease_seconds
    found.add(
        "running",
        f"running on {task['node']}{since} (attempt {task['attempts']}); last heartbeat "
        f"{_clock(heartbeat)}, lease until {_clock(expires)}",
    )
    if expires is not None and expires < now:
        found.add(
            "lease_expired_awaiting_rescue",
            f"its lease expired {now - expires:.0f} s ago: {owner} died or stalled, and a "
            f"node's rescue will take the task back and run it again",
        )


def _waiting(
    store: Store, task: dict[str, Any], found: Diagnosis, lost_after_seconds: float, now: float
) -> None:
    queue = task["queue"]
    blocked = False
    state = next((s for s in store.queue_states() if s.name == queue), None)
    if state is not None and state.paused:
        blocked = True
        found.add(
            "queue_paused",
            f"queue {queue!r} is paused since {_clock(state.paused_at)} by {state.paused_by} "
            f"(POST /queues/{queue}/resume)",
        )
    nodes = store.nodes(now, lost_after_seconds)
    live = [n for n in nodes if n["state"] == "alive"]
    if not live:
        blocked = True
        last = max((n["last_seen"] for n in nodes), default=None)
        seen = f"; the last was seen at {_clock(last)}" if last is not None else ""
        found.add("no_live_node", f"no node is up to run it{seen}")
    serving = [n for n in live if n["queues"] is None or queue in n["queues"]]
    if live and not serving:
        blocked = True
        served = sorted({q for n in live for q in n["queues"] or ()})
        found.add(
            "no_node_serves_queue",
            f"no live node serves queue {queue!r}; they serve {', '.join(served)}",
        )
    status = Status(task["status"])
    if task["run_at"] > now:
        blocked = True
        code = "scheduled" if status == Status.SCHEDULED else "backoff"
        due = f"due in {task['run_at'] - now:.0f} s, at {_clock(task['run_at'])}"
        if code == "scheduled":
            found.add("scheduled", due)
        else:
            found.add(
                "backoff",
                f"retry {task['attempts'] + 1} of {task['max_attempts']} {due}; the last "
                f"error: {task['error']}",
            )
    elif status in CLAIMABLE:
        ahead = _ahead(store, task, now)
        rate = sum(n["completed_per_minute"] for n in serving)
        estimate = ""
        if rate > 0:
            estimate = f"; at the recent {rate:.0f} a minute, about {ahead * 60 / rate:.0f} s"
        found.add(
            "workers_busy",
            f"{ahead}{'+' if ahead >= AHEAD_COUNT_CAP else ''} due tasks ahead of it in queue "
            f"{queue!r} at its priority or better{estimate}",
        )
    found.runnable = not blocked


def _ahead(store: Store, task: dict[str, Any], now: float) -> int:
    """Due tasks of its queue that start before it: a better priority, or the same one
    and earlier in due order. Two ranges of the due index, each counted up to a cap."""
    p = store.db.param
    task_id = task["id"]
    (enqueued,) = store.db.execute_sql(
        f"SELECT enqueued_ns FROM tasks WHERE id = {p}", (task_id,)
    ).fetchone()
    due = f"status IN ({sql_list(CLAIMABLE)}) AND queue = {p} AND run_at <= {p}"
    better = store.db.execute_sql(
        f"SELECT COUNT(*) FROM (SELECT 1 FROM tasks WHERE {due} AND priority < {p} "
        f"LIMIT {AHEAD_COUNT_CAP}) AS ahead",
        (task["queue"], now, task["priority"]),
    ).fetchone()[0]
    same = store.db.execute_sql(
        f"SELECT COUNT(*) FROM (SELECT 1 FROM tasks WHERE {due} AND priority = {p} "
        f"AND (run_at, enqueued_ns) < ({p}, {p}) LIMIT {AHEAD_COUNT_CAP}) AS ahead",
        (task["queue"], now, task["priority"], task["run_at"], enqueued),
    ).fetchone()[0]
    return min(AHEAD_COUNT_CAP, better + same)


def _canceled(store: Store, task_id: str, task: dict[str, Any]) -> str:
    for event in reversed(store.events_of(task_id)):
        if event["kind"] == "canceled":
            return f"canceled by {event['by']} at {_clock(event['at'])}, while {event['from']}"
        if event["kind"] == "cancel_requested":
            return (
                f"canceled by {event['by']}: the cancel reached it running at "
                f"{_clock(event['at'])}, and its attempt then ended without completing"
            )
    return f"canceled at {_clock(task['processed_at'])}"


def _clock(at: float | None) -> str:
    """Unix seconds as the UTC time of day (and date when not today)."""
    if at is None:
        return "unknown"
    moment = time.gmtime(at)
    if time.strftime("%Y-%m-%d", moment) == time.strftime("%Y-%m-%d", time.gmtime()):
        return time.strftime("%H:%M:%S UTC", moment)
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", moment)


def _attempts(count: int) -> str:
    return "1 attempt" if count == 1 else f"{count} attempts"
