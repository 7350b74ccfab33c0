"""Huey with its SQLite storage: ``huey_consumer … -w 2`` plus the CherryPy front end."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from bench.procs import Proc, free_port, wait_http

from . import results
from .base import Stack

WORKERS = 2
WORKER_TYPE = "thread"  # Huey's default
# Huey's consumer polls SQLite. Its defaults (0.1 s, backing off to 10 s when
# idle) would add up to seconds of latency, so the end-to-end comparison
# would be unfair to it; 10 ms backing off to 100 ms is a tuned setting.
POLL_DELAY_SECONDS = 0.01
POLL_MAX_DELAY_SECONDS = 0.1


class HueyStack(Stack):
    name = "huey"
    label = "Huey (SQLite)"
    completed_count_sql = "SELECT count(*) FROM results"
    completed_ids_sql = "SELECT id FROM results WHERE id IN ({marks})"

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
        if backlog:
            self.seed(backlog, BENCH_HUEY_FSYNC="0")
        if on_seeded is not None:
            on_seeded()
        consumer = shutil.which("huey_consumer") or "huey_consumer"
        argv = [
            sys.executable,
            consumer,
            "bench.stacks.huey_tasks.huey",
            "-w",
            str(WORKERS),
            "-k",
            WORKER_TYPE,
            "-d",
            repr(POLL_DELAY_SECONDS),
            "-m",
            repr(POLL_MAX_DELAY_SECONDS),
            *self.extra_args,
        ]
        env = self.env(simulated_work_seconds)
        consumer_proc = Proc("huey consumer", argv, self.workdir / "huey.log", env)
        self.procs.append(consumer_proc)
        consumer_proc.wait_log("consumer started")
        if self.nodes != 1:
            raise RuntimeError("the Huey stack runs one node only")
        port = free_port()
        self.base_urls.append(f"http://127.0.0.1:{port}")
        web = Proc(
            "huey web",
            [sys.executable, "-m", "bench.stacks.web_app", "huey", "--port", str(port)],
            self.workdir / "huey-web.log",
            env,
        )
        self.procs.append(web)
        wait_http(self.base_url, proc=web)
