"""The actors: supervisor, dispatcher, workers, the upkeep, and the action registry they run."""

from .action_modules import ActionModuleError, load_action_modules
from .actions import Action, ActionRegistry, DuplicateAction, Permanent, action, registry
from .attempt import Attempt, WorkerSlot
from .config import QueueConfig, UnknownActions
from .context import TaskContext
from .dispatcher import Dispatcher
from .finished import FinishedBoard
from .listener import WakeListener
from .maintenance import (
    LeaderElector,
    Leadership,
    MaintenanceService,
    Presence,
    Rescuer,
    Stager,
    dead_local_owners,
)
from .messages import (
    AbandonedThreads,
    AttachWorker,
    Boot,
    CancelRequested,
    CheckWorkers,
    Claimed,
    Executed,
    Flush,
    HeldCounts,
    Poll,
    QueuesChanged,
    ReleaseUnstarted,
    ReplaceWorker,
    RunTask,
    Shutdown,
    StopClaiming,
    Tick,
    Wake,
    WorkerDied,
)
from .room import IdleRoom, StartAtOnce
from .supervisor import Service, Supervisor
from .worker import Worker, WorkerCrashed

__all__ = [
    "AbandonedThreads",
    "Action",
    "ActionModuleError",
    "ActionRegistry",
    "AttachWorker",
    "Attempt",
    "Boot",
    "CancelRequested",
    "CheckWorkers",
    "Claimed",
    "Dispatcher",
    "DuplicateAction",
    "Executed",
    "FinishedBoard",
    "Flush",
    "HeldCounts",
    "IdleRoom",
    "LeaderElector",
    "Leadership",
    "MaintenanceService",
    "Permanent",
    "Presence",
    "Poll",
    "QueueConfig",
    "QueuesChanged",
    "ReleaseUnstarted",
    "ReplaceWorker",
    "Rescuer",
    "RunTask",
    "Service",
    "StartAtOnce",
    "Shutdown",
    "Stager",
    "StopClaiming",
    "Supervisor",
    "TaskContext",
    "Tick",
    "UnknownActions",
    "Wake",
    "WakeListener",
    "Worker",
    "WorkerCrashed",
    "WorkerDied",
    "WorkerSlot",
    "action",
    "dead_local_owners",
    "load_action_modules",
    "registry",
]
