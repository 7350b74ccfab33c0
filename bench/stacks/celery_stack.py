"""Celery with a Redis broker: a private redis-server, ``celery worker -c 2``, the front end."""

from __future__ import annotations

import shutil
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from bench.procs import Proc, free_port, wait_http

from . import results
from .base import Stack

CONCURRENCY = 2  # prefork processes, one per core
LOG_LEVEL = "WARNING"  # Celery's default: no line per task
REDIS_SERVER = "redis-server"  # Debian's package


class CeleryStack(Stack):
    name = "celery"
    label = "Celery + Redis"
    completed_count_sql = "SELECT count(*) FROM results"
    completed_ids_sql = "SELECT id FROM results WHERE id IN ({marks})"
    # Cold shutdown: the measurement is over, and a warm one waits ~2 s for the pool.
    stop_signals = {"celery worker": signal.SIGQUIT}

    @property
    def completion_db(self) -> Path:
        return self.workdir / "results.db"

    def start(
        self,
        simulated_work_seconds: float | None,
        backlog: int = 0,
        hold_workers: bool = False,
        on_seeded: Callable[[], None] | None = None,
    ) -> None:
        results.create(self.completion_db)
        redis_port = free_port()
        redis = Proc(
            "redis",
            [
                shutil.which(REDIS_SERVER) or REDIS_SERVER,
                "--port",
                str(redis_port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.workdir),
                "--daemonize",
                "no",
            ],
            self.workdir / "redis.log",
        )
        self.procs.append(redis)
        redis.wait_log("Ready to accept connections")
        env = self.env(simulated_work_seconds, BENCH_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0")
        if backlog:
            self.seed(backlog, BENCH_REDIS_URL=env["BENCH_REDIS_URL"])
        if on_seeded is not None:
            on_seeded()
        celery = shutil.which("celery") or "celery"
        argv = [
            sys.executable,
            celery,
            "-A",
            "bench.stacks.celery_tasks",
            "worker",
            "-P",
            "prefork",
            "-c",
            str(CONCURRENCY),
            "-l",
            LOG_LEVEL,
            "-n",
            "bench@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            *self.extra_args,
        ]
        worker = Proc("celery worker", argv, self.workdir / "celery.log", env)
        self.procs.append(worker)
        worker.wait_log("BENCH celery worker ready")
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        web = Proc(
            "celery web",
            [sys.executable, "-m", "bench.stacks.web_app", "celery", "--port", str(port)],
            self.workdir / "celery-web.log",
            env,
        )
        self.procs.append(web)
        wait_http(self.base_url, proc=web)
