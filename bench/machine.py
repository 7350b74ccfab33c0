"""What the benchmark ran on, so that numbers from two runs can be compared honestly."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import re
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import psutil

from bench import pg
from bench.procs import REPO

PACKAGES = (
    "CherryPy",
    "peewee",
    "pykka",
    "orjson",
    "huey",
    "celery",
    "kombu",
    "redis",
    "procrastinate",
    "psycopg",
    "psycopg2-binary",
)
PG_SETTINGS = ("shared_buffers", "synchronous_commit", "fsync", "autovacuum", "max_connections")
CORE_PATHS = ("models", "actors", "web", "run.py")


def _first_line(argv: list[str]) -> str:
    if shutil.which(argv[0]) is None:
        return "not installed"
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unknown ({exc})"
    text = (done.stdout or done.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return float("nan")


def _filesystem(path: Path) -> str:
    """The type and device of the mount that holds ``path`` (fsync cost depends on it)."""
    best = ("", "unknown", "unknown")
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            device, mount, kind = line.split()[:3]
            if str(path.resolve()).startswith(mount) and len(mount) >= len(best[0]):
                best = (mount, kind, device)
    except OSError:
        pass
    return f"{best[1]} on {best[2]}"


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10)
        return done.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def load_average() -> str:
    """The 1-minute load average: other work on the machine skews every number."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "unknown"


def _others_cpu_seconds() -> dict[tuple[int, float], float]:
    """CPU time (children included) of every user process outside the benchmark's tree."""
    me = psutil.Process()
    ours = {me.pid, *(child.pid for child in me.children(recursive=True))}
    seen = {}
    for proc in psutil.process_iter(["pid", "ppid", "name", "create_time", "cpu_times"]):
        info = proc.info
        if info["pid"] in ours or info["pid"] == 2 or info["ppid"] == 2 or not info["cpu_times"]:
            continue  # the benchmark's own processes, and kernel threads
        if info["name"] == "postgres" and pg.is_bench_or_shared(proc):
            continue  # the server working for the benchmark's databases
        t = info["cpu_times"]
        seen[(info["pid"], info["create_time"])] = (
            t.user + t.system + getattr(t, "children_user", 0) + getattr(t, "children_system", 0)
        )
    return seen


class OtherLoad:
    """How many cores other programs on the machine kept busy during a block.

    Counts the CPU time of every user process that is not the benchmark or
    one it started (a test suite, a build), including the children they
    waited for. Above about 0.1 cores the numbers of that block are
    disturbed. Kernel threads are left out: they also do our own I/O. So are
    the PostgreSQL server's backends of ``bench_`` databases and its
    cluster-wide helpers (WAL writer, checkpointer…), which work for us;
    backends of other databases (another engineer's test run) count.
    """

    def __enter__(self) -> OtherLoad:
        self._started = time.monotonic()
        self._before = _others_cpu_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        elapsed = time.monotonic() - self._started
        after = _others_cpu_seconds()
        other = sum(cpu - self._before.get(key, 0.0) for key, cpu in after.items())
        self.cores = max(0.0, other / elapsed) if elapsed > 0 else 0.0


def _pg_server() -> str:
    """The server the PostgreSQL scenarios used, and the settings that matter to them."""
    try:
        conn = pg.connect(pg.database_url(pg.SERVER_URL, "postgres"))
    except Exception as exc:  # noqa: BLE001 - the report says why instead
        return f"not reachable ({type(exc).__name__})"
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW server_version")
            version = cur.fetchone()[0]
            settings = []
            for name in PG_SETTINGS:
                cur.execute(f"SHOW {name}")
                settings.append(f"{name}={cur.fetchone()[0]}")
    finally:
        conn.close()
    return f"{version} at {pg.redact(pg.SERVER_URL)} ({', '.join(settings)})"


def describe(workdir: Path, load_before: str, postgresql: bool = False) -> dict[str, str]:
    postgres = _pg_server() if postgresql else _first_line(["postgres", "--version"])
    if postgres == "not installed":
        postgres = _first_line(["psql", "--version"])
    dirty = _git("status", "--porcelain", "--", *CORE_PATHS)
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 0
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": os.environ.get("BENCH_COMMIT")
        or (_git("rev-parse", "--short", "HEAD") or "unknown")
        + (" (with uncommitted changes to the core files)" if dirty else ""),
        "cpu": _cpu_model(),
        "cores": str(cores),
        "ram": f"{_memory_gib():.1f} GiB",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": re.sub(r"^\S+ \(PostgreSQL\) ", "", postgres),
        "redis": _first_line(["redis-server", "--version"]),
        "wrk": _first_line(["wrk", "-v"]),
        "filesystem": f"{_filesystem(workdir)} ({workdir})",
        "packages": ", ".join(f"{name} {_version(name)}" for name in PACKAGES),
        "load": f"{load_before} before the run, {load_average()} after (1-minute averages)",
    }
