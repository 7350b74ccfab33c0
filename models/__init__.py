"""The database, the Task model with its state transitions, and the migrations."""

from .database import (
    DEFAULT_DB_URL,
    StorageError,
    database,
    discard_connection,
    is_postgresql,
    open_database,
    redact,
)
from .errors import (
    InvalidInput,
    MigrationError,
    PayloadTooLarge,
    TaskNotFound,
    TaskQueueError,
    Unavailable,
)
from .intake import Intake
from .migrations import LATEST_VERSION, migrate
from .task import (
    COMPLETED,
    DEAD,
    PG_NOTIFY_CHANNEL,
    QUEUED,
    RETRYING,
    RUNNING,
    STATUSES,
    VIEW_FIELDS,
    ClaimedTask,
    Task,
    claim,
    complete_many,
    count_backlog,
    count_by_status,
    enqueue,
    fail,
    get_task,
    heartbeat,
    lease_owners,
    list_tasks,
    new_task,
    release,
    rescue,
    retry_delay_seconds,
)

__all__ = [
    "COMPLETED", "DEAD", "DEFAULT_DB_URL", "LATEST_VERSION", "PG_NOTIFY_CHANNEL", "QUEUED",
    "RETRYING", "RUNNING", "STATUSES", "StorageError", "VIEW_FIELDS", "ClaimedTask", "Intake", "InvalidInput",
    "MigrationError", "PayloadTooLarge", "Task", "TaskNotFound", "TaskQueueError", "Unavailable",
    "claim", "complete_many", "count_backlog", "count_by_status", "database", "discard_connection", "enqueue", "fail", "get_task",
    "heartbeat", "is_postgresql", "lease_owners", "list_tasks", "migrate", "new_task",
    "open_database", "redact", "release", "rescue", "retry_delay_seconds",
]
