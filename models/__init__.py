"""Tasks and where they are kept: statuses, the store contract and its backends,
the migrations, and the intake.

The rest of the service uses only what this module exports. It never asks
which database it is on: ``open_store`` picks the backend, and the ``Store``
contract is the same on each.
"""

from .backoff import RETRY_JITTER_FRACTION, retry_delay_seconds
from .control import BulkResult, QueueState, TaskFilter
from .cron import Cron, check_cron, check_timezone
from .database import DEFAULT_DB_URL, open_store, redact
from .diagnosis import CODES as DIAGNOSIS_CODES
from .diagnosis import Diagnosis, diagnose
from .errors import (
    Conflict,
    InvalidInput,
    MigrationError,
    PayloadTooLarge,
    TaskNotFound,
    TaskQueueError,
    Unavailable,
)
from .history import KINDS as EVENT_KINDS
from .intake import Intake, IntakeConfig, StartHere
from .migrations import LATEST_VERSION
from .nodes import NodeInfo
from .notifications import Heard, Listener, ListenerLost
from .outcomes import Ending, Outcome
from .reads import CutText, Page, TaskQuery
from .retention import MAX_PRUNE_BATCH_ROWS, PRUNE_BATCH_ROWS
from .schedules import CATCH_UP, MISFIRE_GRACE_SECONDS, Firing, ScheduleSpec
from .schedules import idempotency_key as schedule_key
from .schedules import plan as plan_firing
from .schedules import task_row as schedule_task_row
from .statuses import CLAIMABLE, FINISHED, STATUSES, TRANSITIONS, WAITING, Status
from .store import ClaimRequest, Settled, StorageError, Store
from .task import (
    DEFAULT_QUEUE,
    VIEW_FIELDS,
    ClaimedTask,
    Failure,
    Rescued,
    Task,
    TaskOptions,
    new_task,
)
from .webhooks import STATES as DELIVERY_STATES
from .webhooks import Delivery, TryOutcome

__all__ = [
    "CATCH_UP",
    "CLAIMABLE",
    "CutText",
    "DEFAULT_DB_URL",
    "DEFAULT_QUEUE",
    "DELIVERY_STATES",
    "DIAGNOSIS_CODES",
    "EVENT_KINDS",
    "FINISHED",
    "LATEST_VERSION",
    "MAX_PRUNE_BATCH_ROWS",
    "MISFIRE_GRACE_SECONDS",
    "PRUNE_BATCH_ROWS",
    "RETRY_JITTER_FRACTION",
    "STATUSES",
    "TRANSITIONS",
    "VIEW_FIELDS",
    "WAITING",
    "BulkResult",
    "ClaimRequest",
    "ClaimedTask",
    "Conflict",
    "Cron",
    "Delivery",
    "Diagnosis",
    "Ending",
    "Failure",
    "Firing",
    "Heard",
    "Intake",
    "IntakeConfig",
    "StartHere",
    "InvalidInput",
    "Listener",
    "ListenerLost",
    "MigrationError",
    "NodeInfo",
    "Outcome",
    "Page",
    "PayloadTooLarge",
    "QueueState",
    "Rescued",
    "ScheduleSpec",
    "Settled",
    "Status",
    "StorageError",
    "Store",
    "Task",
    "TaskFilter",
    "TaskNotFound",
    "TaskOptions",
    "TaskQuery",
    "TaskQueueError",
    "TryOutcome",
    "Unavailable",
    "check_cron",
    "check_timezone",
    "diagnose",
    "new_task",
    "open_store",
    "plan_firing",
    "redact",
    "retry_delay_seconds",
    "schedule_key",
    "schedule_task_row",
]
