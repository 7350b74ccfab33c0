"""Tasks and where they are kept: statuses, the store contract and its backends,
the migrations, and the intake.

The rest of the service uses only what this module exports. It never asks
which database it is on: ``open_store`` picks the backend, and the ``Store``
contract is the same on each.
"""

from .backoff import RETRY_JITTER_FRACTION, retry_delay_seconds
from .control import BulkResult, QueueState, TaskFilter
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
from .intake import Intake, IntakeConfig
from .migrations import LATEST_VERSION
from .nodes import NodeInfo
from .notifications import Heard, Listener, ListenerLost
from .outcomes import Ending, Outcome
from .reads import CutText, Page, TaskQuery
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

__all__ = [
    "CLAIMABLE",
    "CutText",
    "DEFAULT_DB_URL",
    "DEFAULT_QUEUE",
    "DIAGNOSIS_CODES",
    "EVENT_KINDS",
    "FINISHED",
    "LATEST_VERSION",
    "RETRY_JITTER_FRACTION",
    "STATUSES",
    "TRANSITIONS",
    "VIEW_FIELDS",
    "WAITING",
    "BulkResult",
    "ClaimRequest",
    "ClaimedTask",
    "Conflict",
    "Diagnosis",
    "Ending",
    "Failure",
    "Heard",
    "Intake",
    "IntakeConfig",
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
    "Unavailable",
    "diagnose",
    "new_task",
    "open_store",
    "redact",
    "retry_delay_seconds",
]
