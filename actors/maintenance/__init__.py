"""Periodic upkeep, one small actor per concern, each with its own interval.

- ``Rescuer``: running tasks of dead processes and expired leases go back.
- ``LeaderElector``: which node runs the services that a cluster runs once.
- ``Stager``: delayed tasks become due.
- ``Presence``: the node's row in ``nodes``; lost nodes are cleared.
- ``Sampler``: what the metrics' gauges read from the database.
- ``FilesGuard``: commits made into database files a restart would not open are saved.

The supervisor starts and stops them; the ticker sends each its ``Tick``.
"""

from .files_guard import FILES_CHECK_INTERVAL_SECONDS, FilesGuard
from .leader import LeaderElector
from .presence import Presence
from .rescuer import Rescuer, dead_local_owners
from .sampler import SAMPLE_INTERVAL_SECONDS, Sampler
from .service import Leadership, MaintenanceService
from .stager import Stager

__all__ = [
    "FILES_CHECK_INTERVAL_SECONDS",
    "FilesGuard",
    "LeaderElector",
    "Leadership",
    "MaintenanceService",
    "Presence",
    "Rescuer",
    "SAMPLE_INTERVAL_SECONDS",
    "Sampler",
    "Stager",
    "dead_local_owners",
]
