"""Celery with a Redis broker: a private redis-server, per node ``celery worker -c 2`` and a
front end. On PostgreSQL the tasks write their results into the stack's scratch database."""

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
    databases = ("sqlite", "postgresql")
    # Cold shutdown: the measurement is over, and a warm one waits ~2 s for the pool.
    stop_signals = {f"celery worker {n}": signal.SIGQUIT for n in range(1, 9)}

    @property
    def completion_db(self) -> Path | str:
        return self.db_url or self.workdir / "results.db"

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
        extra = {"BENCH_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"}
        if self.db_url:
            extra["BENCH_RESULTS_URL"] = self.db_url
        env = self.env(simulated_work_seconds, **extra)
        if backlog:
            self.seed(backlog, BENCH_REDIS_URL=env["BENCH_REDIS_URL"])
        if on_seeded is not None:
            on_seeded()
        celery = shutil.which("celery") or "celery"
        workers = []
        for node in range(1, self.nodes + 1):
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
                f"bench{node}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                *self.extra_args,
            ]
            worker = Proc(f"celery worker {node}", argv, self.workdir / f"celery-{node}.log", env)
            self.procs.append(worker)
            workers.append(worker)
        for worker in workers:
            worker.wait_log("BENCH celery worker ready")
        webs = []
        for node in range(1, self.nodes + 1):
            port = free_port()
            self.base_urls.append(f"http://127.0.0.1:{port}")
            web = Proc(
                f"celery web {node}",
                [sys.executable, "-m", "bench.stacks.web_app", "celery", "--port", str(port)],
                self.workdir / f"celery-web-{node}.log",
                env,
            )
            self.procs.append(web)
            webs.append(web)
        for web, base_url in zip(webs, self.base_urls, strict=True):
            wait_http(base_url, proc=web)
