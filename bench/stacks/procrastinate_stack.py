"""procrastinate on PostgreSQL: per node, ``procrastinate … worker -c 2`` plus the front end."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from bench import pg
from bench.observe import Target
from bench.procs import READY_POLL_SECONDS, READY_TIMEOUT_SECONDS, Proc, free_port, wait_http

from .base import Stack

CONCURRENCY = 2  # jobs at once per worker, as our 2 workers per node
APP = "bench.stacks.procrastinate_tasks.app"


class ProcrastinateStack(Stack):
    name = "procrastinate"
    label = "procrastinate"
    databases = ("postgresql",)
    completed_count_sql = "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'"
    completed_ids_sql = (
        "SELECT id::text FROM procrastinate_jobs WHERE status = 'succeeded' AND id IN ({marks})"
    )

    @property
    def completion_db(self) -> Target:
        return self.db_url

    def _wait_workers(self, count: int) -> None:
        """A worker registers in ``procrastinate_workers`` once its loop runs."""
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        conn = pg.connect(self.db_url)
        try:
            while time.monotonic() < deadline:
                with conn.cursor() as cur:
                    cur.execute("SELECT count(*) FROM procrastinate_workers")
                    if cur.fetchone()[0] >= count:
                        return
                if not all(proc.alive() for proc in self.procs):
                    break
                time.sleep(READY_POLL_SECONDS)
        finally:
            conn.close()
        tails = "\n".join(proc.log_tail() for proc in self.procs)
        raise RuntimeError(f"procrastinate workers not ready:\n{tails}")

    def start(
        self,
        simulated_work_seconds: float | None,
        backlog: int = 0,
        hold_workers: bool = False,
        on_seeded: Callable[[], None] | None = None,
    ) -> None:
        if not self.db_url:
            raise RuntimeError("procrastinate runs on PostgreSQL only (--db postgresql)")
        env = self.env(simulated_work_seconds, BENCH_PG_DSN=self.db_url)
        self.seed(backlog, BENCH_PG_DSN=self.db_url)  # applies the schema, even for 0
        if on_seeded is not None:
            on_seeded()
        for node in range(self.nodes):
            argv = [
                sys.executable,
                "-m",
                "procrastinate",
                "--app",
                APP,
                "worker",
                "--name",
                f"bench{node + 1}",
                "--concurrency",
                str(CONCURRENCY),
                *self.extra_args,
            ]
            self.procs.append(
                Proc(
                    f"procrastinate worker {node + 1}",
                    argv,
                    self.workdir / f"procrastinate-{node + 1}.log",
                    env,
                )
            )
        self._wait_workers(self.nodes)
        for node in range(self.nodes):
            port = free_port()
            self.base_urls.append(f"http://127.0.0.1:{port}")
            web = Proc(
                f"procrastinate web {node + 1}",
                [
                    sys.executable,
                    "-m",
                    "bench.stacks.web_app",
                    "procrastinate",
                    "--port",
                    str(port),
                ],
                self.workdir / f"procrastinate-web-{node + 1}.log",
                env,
            )
            self.procs.append(web)
        for proc, base_url in zip(self.procs[self.nodes :], self.base_urls, strict=True):
            wait_http(base_url, proc=proc)
