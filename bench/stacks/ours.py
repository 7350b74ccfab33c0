"""Our service, started as users start it: ``python run.py --port P --db URL``.

On SQLite the database is ``workdir/tasks.db``; on PostgreSQL it is the
stack's scratch database. Two nodes are two ``run.py`` processes on
different ports sharing that database, named ``a`` and ``b``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

from bench.observe import Target
from bench.procs import REPO, Proc, bench_env, free_port, wait_http

from .base import SEED_TIMEOUT_SECONDS, Stack

# Long enough that no held task finishes during a measurement.
HOLD_SIMULATED_WORK_SECONDS = 3600.0
NODE_NAMES = "abcdefgh"


class OursStack(Stack):
    name = "ours"
    label = "ours"
    databases = ("sqlite", "postgresql")
    completed_count_sql = "SELECT count(*) FROM tasks WHERE status = 'completed'"
    completed_ids_sql = "SELECT id FROM tasks WHERE status = 'completed' AND id IN ({marks})"

    @property
    def completion_db(self) -> Target:
        return self.db_url or self.workdir / "tasks.db"

    @property
    def url(self) -> str:
        """The service's --db."""
        return self.db_url or f"sqlite:///{self.workdir / 'tasks.db'}"

    def migrate(self) -> None:
        """``run.py migrate``: the schema as the service makes it, before anything reads it."""
        done = subprocess.run(
            [sys.executable, "run.py", "migrate", "--db", self.url],
            cwd=REPO,
            env=bench_env(),
            capture_output=True,
            text=True,
            timeout=SEED_TIMEOUT_SECONDS,
        )
        if done.returncode != 0:
            raise RuntimeError(f"run.py migrate failed:\n{done.stdout}\n{done.stderr}")

    def start(
        self,
        simulated_work_seconds: float | None,
        backlog: int = 0,
        hold_workers: bool = False,
        on_seeded: Callable[[], None] | None = None,
        actions: tuple[str, ...] = (),
    ) -> None:
        """``hold_workers``: the built-in actions sleep an hour, so the workers take
        ``prefetch`` tasks each and the rest of the backlog stays queued. ``actions``:
        modules for ``--actions``."""
        if self.db_url:
            self.migrate()
        if backlog:
            self.seed(backlog, BENCH_DB_URL=self.url)
        if on_seeded is not None:
            on_seeded()
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
        for module in actions:
            flags += ["--actions", module]
        for node in range(self.nodes):
            port = free_port()
            base_url = f"http://127.0.0.1:{port}"
            argv = [sys.executable, "run.py", "--port", str(port), "--db", self.url, *flags]
            if self.nodes > 1:
                argv += ["--node-name", NODE_NAMES[node]]
            name = "ours" if self.nodes == 1 else f"ours {NODE_NAMES[node]}"
            log = self.workdir / f"{name.replace(' ', '-')}.log"
            proc = Proc(name, [*argv, *self.extra_args], log)
            self.procs.append(proc)
            self.base_urls.append(base_url)
        for proc, base_url in zip(self.procs, self.base_urls, strict=True):
            wait_http(base_url, proc=proc)
