"""Processes the benchmark starts: launch, wait until ready, measure memory, stop by PID.

Every process is started in its own session so that its children (Celery's
prefork pool, Huey's worker processes) can be found and stopped by ID too.
Nothing is ever stopped by name.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
READY_TIMEOUT_SECONDS = 120.0  # a service opening a 1,000,000-row database takes a while
READY_POLL_SECONDS = 0.05
STOP_TIMEOUT_SECONDS = 20.0  # SIGTERM, then this long, then SIGKILL

_started: list[Proc] = []  # everything still running, so a failed run can clean up


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def bench_env(**extra: str) -> dict[str, str]:
    """The environment of every child: the repository importable, Python unbuffered."""
    path = os.environ.get("PYTHONPATH", "")
    return {
        **os.environ,
        "PYTHONPATH": f"{REPO}{os.pathsep}{path}" if path else str(REPO),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


class Proc:
    """One child process with its output in a log file."""

    def __init__(
        self, name: str, argv: list[str], log_path: Path, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self._log = open(log_path, "ab")  # closed in stop()
        self.popen = subprocess.Popen(
            argv,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env or bench_env(),
            start_new_session=True,
        )
        self.pid = self.popen.pid
        _started.append(self)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_log(self, needle: str, timeout_seconds: float = READY_TIMEOUT_SECONDS) -> None:
        """Wait until ``needle`` appears in the log (bounded), or fail with the log's tail."""
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if needle in self.log_path.read_text(errors="replace"):
                return
            if not self.alive():
                break
            time.sleep(READY_POLL_SECONDS)
        raise RuntimeError(f"{self.name} not ready ({needle!r}):\n{self.log_tail()}")

    def family(self) -> list[psutil.Process]:
        """This process and its descendants, as they are now."""
        try:
            me = psutil.Process(self.pid)
            return [me, *me.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def peak_rss_bytes(self) -> int:
        """The kernel's high-water mark of resident memory (VmHWM) of this one process."""
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError("no VmHWM")

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        """Signal the process by PID; after the timeout SIGKILL it and its descendants by PID."""
        family = self.family()
        if self.alive():
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                print(
                    f"  {self.name} (pid {self.pid}) ignored signal {sig}; killing it",
                    file=sys.stderr,
                )
        for proc in family:  # children the parent did not reap, then the parent
            try:
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    proc.kill()
            except psutil.NoSuchProcess:
                pass
        returncode = self.popen.wait(STOP_TIMEOUT_SECONDS)
        self._log.close()
        if self in _started:
            _started.remove(self)
        return returncode


def stop_all() -> None:
    """Stop whatever is still running, newest first (used when a run fails)."""
    for proc in reversed(list(_started)):
        proc.stop()


def wait_http(
    base_url: str,
    path: str = "/tasks?limit=1",
    timeout_seconds: float = READY_TIMEOUT_SECONDS,
    proc: Proc | None = None,
) -> None:
    """Poll ``GET path`` until it answers 200 (bounded), or fail with the log's tail."""
    host, _, port = base_url.removeprefix("http://").partition(":")
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            break
        try:
            conn = http.client.HTTPConnection(host, int(port), timeout=5)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                conn.close()
                return
            conn.close()
        except OSError:
            pass
        time.sleep(READY_POLL_SECONDS)
    tail = proc.log_tail() if proc is not None else ""
    raise RuntimeError(f"{base_url} did not answer within {timeout_seconds}s\n{tail}")
