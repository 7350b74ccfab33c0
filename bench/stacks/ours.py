"""Our service, started as users start it: ``python run.py --port P --db sqlite:///…``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from bench.procs import Proc, free_port, wait_http

from .base import Stack

# Long enough that no held task finishes during a measurement.
HOLD_SIMULATED_WORK_SECONDS = 3600.0


class OursStack(Stack):
    name = "ours"
    label = "ours"
    completed_count_sql = "SELECT count(*) FROM tasks WHERE status = 'completed'"
    completed_ids_sql = "SELECT id FROM tasks WHERE status = 'completed' AND id IN ({marks})"

    @property
    def completion_db(self) -> Path:
        return self.workdir / "tasks.db"

    def start(
        self,
        simulated_work_seconds: float | None,
        backlog: int = 0,
        hold_workers: bool = False,
        on_seeded: Callable[[], None] | None = None,
    ) -> None:
        """``hold_workers``: the built-in actions sleep an hour, so the workers take
        ``prefetch`` tasks each and the rest of the backlog stays queued."""
        if backlog:
            self.seed(backlog)
        if on_seeded is not None:
            on_seeded()
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        flags = []
        if simulated_work_seconds is not None:
            flags = ["--simulated-work", repr(simulated_work_seconds)]
        if hold_workers:
            flags = [
                "--simulated-work",
                repr(HOLD_SIMULATED_WORK_SECONDS),
                "--shutdown-timeout",
                "0",
            ]
        argv = [
            sys.executable,
            "run.py",
            "--port",
            str(port),
            "--db",
            f"sqlite:///{self.completion_db}",
            *flags,
            *self.extra_args,
        ]
        proc = Proc("ours", argv, self.workdir / "ours.log")
        self.procs.append(proc)
        wait_http(self.base_url, proc=proc)
