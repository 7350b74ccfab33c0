"""The actors: supervisor, dispatcher, workers, the upkeep, and the action registry they run."""

from .actions import (
    Action,
    ActionModuleError,
    ActionRegistry,
    action,
    load_action_modules,
    registry,
)
from .config import QueueConfig
from .dispatcher import Dispatcher
from .listener import WakeListener
from .maintenance import LeaderElector, Leadership, MaintenanceService, Rescuer, dead_local_owners
from .messages import (
    AttachWorker,
    Boot,
    CheckWorkers,
    Flush,
    HeldCounts,
    Poll,
    ReleaseUnstarted,
    RunTask,
    Shutdown,
    StopClaiming,
    TasksFinished,
    Tick,
    Wake,
    WorkerDied,
)
from .supervisor import Service, Supervisor
from .worker import Worker, WorkerCrashed

__all__ = [
    "Action",
    "ActionModuleError",
    "ActionRegistry",
    "AttachWorker",
    "Boot",
    "CheckWorkers",
    "Dispatcher",
    "Flush",
    "HeldCounts",
    "LeaderElector",
    "Leadership",
    "MaintenanceService",
    "Poll",
    "QueueConfig",
    "ReleaseUnstarted",
    "Rescuer",
    "RunTask",
    "Service",
    "Shutdown",
    "StopClaiming",
    "Supervisor",
    "TasksFinished",
    "Tick",
    "Wake",
    "WakeListener",
    "Worker",
    "WorkerCrashed",
    "WorkerDied",
    "action",
    "dead_local_owners",
    "load_action_modules",
    "registry",
]
