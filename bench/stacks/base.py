"""What every stack under test offers the scenarios."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import psutil

from actors.config import DEFAULT_SIMULATED_WORK_SECONDS
from bench import pg
from bench.observe import Target
from bench.procs import Proc, bench_env

SEED_TIMEOUT_SECONDS = 900.0  # 1,000,000 rows on a slow disk


class Stack:
    """A task queue behind POST/GET /tasks, its workers, and the database that shows completions.

    ``start`` seeds ``backlog`` queued tasks first (workers stopped), then
    starts every process and returns once the HTTP endpoint answers.
    ``stop`` stops every process it started, by PID.

    ``db_url`` is the stack's own scratch PostgreSQL database, or None for
    the SQLite stacks (their files live in ``workdir``). ``nodes`` is how
    many nodes to start: each node is a front end with its own URL (in
    ``base_urls``) and its own workers, all on the one database.
    """

    name = ""
    label = ""
    databases: tuple[str, ...] = ("sqlite",)  # the storages this stack runs on
    # SQL on ``completion_db`` that the observers run, read-only.
    completed_count_sql = ""
    completed_ids_sql = ""  # with ``{marks}`` for a list of ids

    def __init__(
        self,
        workdir: Path,
        extra_args: tuple[str, ...] = (),
        db_url: str | None = None,
        nodes: int = 1,
    ) -> None:
        self.workdir = workdir
        self.extra_args = extra_args
        self.db_url = db_url
        self.nodes = nodes
        self.base_urls: list[str] = []
        self.procs: list[Proc] = []

    @property
    def base_url(self) -> str:
        return self.base_urls[0]

    @property
    def db_name(self) -> str | None:
        return self.db_url.rsplit("/", 1)[1] if self.db_url else None

    @property
    def completion_db(self) -> Target:
        raise NotImplementedError

    def cpu_groups(self) -> dict[str, Callable[[], list[psutil.Process]]]:
        """For the CPU meter: every process of the stack (children included), and on
        PostgreSQL the server's backends serving its database."""
        groups = {"procs": lambda: [p for proc in self.procs for p in proc.family()]}
        if self.db_name:
            name = self.db_name
            groups["db"] = lambda: pg.backends(name)
        return groups

    @property
    def service(self) -> Proc:
        """The process that serves HTTP (the one to profile, and whose memory is the service's)."""
        return self.procs[-1]

    def start(
        self,
        simulated_work_seconds: float | None,
        backlog: int = 0,
        hold_workers: bool = False,
        on_seeded: Callable[[], None] | None = None,
    ) -> None:
        """``simulated_work_seconds=None`` leaves our service at its default (and gives the
        others the same value); ``on_seeded`` runs after the backlog exists and before any
        worker starts."""
        raise NotImplementedError

    stop_signals: dict[str, int] = {}  # by process name, when not SIGTERM

    def stop(self) -> None:
        for proc in reversed(self.procs):
            sig = self.stop_signals.get(proc.name, signal.SIGTERM)
            returncode = proc.stop(sig)
            if returncode not in (0, -sig):
                print(
                    f"    note: {proc.name} exited with {returncode}; see {proc.log_path}",
                    file=sys.stderr,
                )
        self.procs = []
        self.base_urls = []

    def env(self, simulated_work_seconds: float | None = 0.0, **extra: str) -> dict[str, str]:
        if simulated_work_seconds is None:
            simulated_work_seconds = DEFAULT_SIMULATED_WORK_SECONDS
        return bench_env(
            BENCH_WORKDIR=str(self.workdir),
            BENCH_SIMULATED_WORK=repr(simulated_work_seconds),
            **extra,
        )

    def seed(self, count: int, **env: str) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "bench.seed", self.name, "--count", str(count)],
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=SEED_TIMEOUT_SECONDS,
        )
        if done.returncode != 0:
            raise RuntimeError(f"seeding {self.name} failed:\n{done.stdout}\n{done.stderr}")
