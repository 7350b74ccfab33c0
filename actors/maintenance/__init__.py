"""Periodic upkeep, one small actor per concern, each with its own interval.

- ``Rescuer``: running tasks of dead processes and expired leases go back.
- ``LeaderElector``: which node runs the services that a cluster runs once.
- ``Stager``: delayed tasks become due.
- ``Presence``: the node's row in ``nodes``; lost nodes are cleared.
- ``Sampler``: what the metrics' gauges read from the database.
- ``FilesGuard``: commits made into database files a restart would not open are saved.
- ``Scheduler``: periodic schedules become tasks, one per tick (leader).
- ``Pruner``: finished tasks past their retention are deleted (leader).
- ``Deliverer``: completion webhooks are sent and retried (every node).

The supervisor starts and stops them; the ticker sends each its ``Tick``.
"""

from .deliverer import Deliverer
from .files_guard import FILES_CHECK_INTERVAL_SECONDS, FilesGuard
from .leader import LeaderElector
from .presence import Presence
from .pruner import Pruner
from .rescuer import Rescuer, dead_local_owners
from .sampler import SAMPLE_INTERVAL_SECONDS, Sampler
from .scheduler import Fired, Scheduler
from .service import Leadership, MaintenanceService
from .stager import Stager
from .upkeep import retention_of, start_upkeep
from .webhook_http import AddressPolicy, parse_secret, sign

__all__ = [
    "FILES_CHECK_INTERVAL_SECONDS",
    "FilesGuard",
    "AddressPolicy",
    "Deliverer",
    "Fired",
    "LeaderElector",
    "Leadership",
    "MaintenanceService",
    "Presence",
    "Pruner",
    "Rescuer",
    "SAMPLE_INTERVAL_SECONDS",
    "Sampler",
    "Scheduler",
    "Stager",
    "dead_local_owners",
    "parse_secret",
    "retention_of",
    "sign",
    "start_upkeep",
]
