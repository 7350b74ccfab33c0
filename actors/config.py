"""Settings of the actor system, each default a named constant with its unit."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from enum import StrEnum

DEFAULT_WORKERS = 2
DEFAULT_PREFETCH = 5  # unfinished tasks a worker may hold, as the reference's prefetch
DEFAULT_SIMULATED_WORK_SECONDS = 0.1  # built-in actions sleep this long, as the reference does
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_RETRY_BACKOFF_SECONDS = 1.0  # retry n waits backoff * 2^(n-1), plus jitter
DEFAULT_LEASE_SECONDS = 30.0
DEFAULT_POLL_INTERVAL_SECONDS = 0.5  # fallback for due retries and for other nodes' tasks
DEFAULT_RESCUE_INTERVAL_SECONDS = 1.0
DEFAULT_SHUTDOWN_TIMEOUT_SECONDS = 10.0  # how long a stop waits for running tasks
DEFAULT_TASK_TIMEOUT_SECONDS = 900.0  # how long one attempt may run; 0: no limit
DEFAULT_MAX_RESULT_BYTES = 1024 * 1024  # an action's result, as JSON; a bigger one fails
HEALTH_CHECK_INTERVAL_SECONDS = 1.0  # how often the supervisor looks for silently dead workers
LEADER_RENEW_SECONDS = 2.0  # how often the leader renews its lease, and others try to take it
LEADER_LEASE_SECONDS = 10.0  # a leader lease row not renewed for this long may be taken over
MAX_COMMIT_BATCH = 64  # outcomes the dispatcher commits in one transaction at most
MAX_COMMIT_DELAY_SECONDS = 0.01  # longest a finished attempt waits for its outcome's commit
# The dispatcher claims ahead only while attempts typically take less than this: short
# tasks then never wait for a commit to get work.
CLAIM_AHEAD_MAX_RUN_SECONDS = 0.01
# While it does, it keeps up to this many times the workers' room (prefetch each) ahead
# of them, and a dispatcher with nothing else to do commits and claims only once the
# tasks its workers hold and it keeps ahead are down to REFILL_AT_ROUNDS times their
# room (or an outcome waited MAX_COMMIT_DELAY_SECONDS): one commit then settles about
# as many outcomes as the workers' room, instead of whatever finished during the last.
CLAIM_AHEAD_ROUNDS = 3
REFILL_AT_ROUNDS = 1.5
RUN_TIME_SMOOTHING = 0.2  # weight of the newest attempt in the typical run time
DAY_SECONDS = 86_400.0
DEFAULT_RETAIN_COMPLETED_SECONDS = 7 * DAY_SECONDS  # finished tasks kept this long; 0: forever
DEFAULT_RETAIN_DEAD_SECONDS = 30 * DAY_SECONDS
DEFAULT_RETAIN_CANCELED_SECONDS = 7 * DAY_SECONDS


def process_identity() -> str:
    """``host:pid``: who holds a lease. The host part lets a restarted node see
    that a local owner's process is gone without waiting out its lease."""
    return f"{socket.gethostname()}:{os.getpid()}"


class UnknownActions(StrEnum):
    """What happens to a task whose action no module registered."""

    PROCESS = "process"  # the reference's catch-all runs it ({"output": "processed"}), warned once
    REJECT = "reject"  # POST answers 400; a stored one fails at once


@dataclass(frozen=True)
class QueueConfig:
    workers: int = DEFAULT_WORKERS
    prefetch: int = DEFAULT_PREFETCH
    simulated_work_seconds: float = DEFAULT_SIMULATED_WORK_SECONDS
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    retry_backoff_seconds: float = DEFAULT_RETRY_BACKOFF_SECONDS
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    poll_interval_seconds: float = DEFAULT_POLL_INTERVAL_SECONDS
    rescue_interval_seconds: float = DEFAULT_RESCUE_INTERVAL_SECONDS
    shutdown_timeout_seconds: float = DEFAULT_SHUTDOWN_TIMEOUT_SECONDS
    task_timeout_seconds: float = DEFAULT_TASK_TIMEOUT_SECONDS  # 0: no limit
    max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES
    queues: tuple[str, ...] | None = None  # the queues this node serves; None: all of them
    unknown_actions: UnknownActions = UnknownActions.PROCESS
    owner: str = field(default_factory=process_identity)
    node_name: str = ""  # shown as a task's ``node``; empty means ``owner``
    retain_completed_seconds: float = DEFAULT_RETAIN_COMPLETED_SECONDS  # 0: kept forever
    retain_dead_seconds: float = DEFAULT_RETAIN_DEAD_SECONDS
    retain_canceled_seconds: float = DEFAULT_RETAIN_CANCELED_SECONDS
    webhook_secret: bytes | None = field(default=None, repr=False)  # HMAC key; None: no webhooks
    webhook_allow_nets: tuple[str, ...] = ()  # CIDRs webhooks may reach though not public

    @property
    def node(self) -> str:
        return self.node_name or self.owner

    @property
    def heartbeat_interval_seconds(self) -> float:
        return self.lease_seconds / 3

    @property
    def default_timeout_seconds(self) -> float | None:
        """A task's timeout when it names none: the flag, or None for no limit."""
        return self.task_timeout_seconds or None
