"""The actors: supervisor, dispatcher, workers, and the action registry they run."""

from .actions import Action, ActionRegistry, action, load_action_modules, registry
from .config import QueueConfig
from .dispatcher import Dispatcher
from .messages import (
    AttachWorker,
    Boot,
    Flush,
    HeldCounts,
    Poll,
    ReleaseUnstarted,
    Rescue,
    RunTask,
    Shutdown,
    StopClaiming,
    TasksFinished,
    Wake,
    WorkerDied,
)
from .supervisor import Service, Supervisor, dead_local_owners
from .worker import Worker, WorkerCrashed

__all__ = [
    "Action",
    "ActionRegistry",
    "AttachWorker",
    "Boot",
    "Dispatcher",
    "Flush",
    "HeldCounts",
    "Poll",
    "QueueConfig",
    "ReleaseUnstarted",
    "Rescue",
    "RunTask",
    "Service",
    "Shutdown",
    "StopClaiming",
    "Supervisor",
    "TasksFinished",
    "Wake",
    "Worker",
    "WorkerCrashed",
    "WorkerDied",
    "action",
    "dead_local_owners",
    "load_action_modules",
    "registry",
]
