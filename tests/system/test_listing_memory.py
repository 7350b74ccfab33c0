"""Reads take bounded memory: sixteen listings of 1,000 tasks of 1 MiB each keep the
service under 300 MB (issue 12, "Bounded memory for reads and results").

The service's RSS is read from /proc while the listings run. Past the bound the
service is killed at once, so that a failing run never holds gigabytes on a
machine shared with other tests; the failure then says how far it got.
"""

from __future__ import annotations

import http.client
import signal
import threading
from pathlib import Path

import pytest

from tests.web.client import post_json

pytestmark = pytest.mark.system

MIB = 1024 * 1024
TASKS = 1000
TASKS_PER_POST = 4
LISTINGS = 16
RSS_LIMIT_BYTES = 300 * 1000 * 1000
RSS_POLL_SECONDS = 0.01
MAX_READ_BYTES = 64 * MIB  # a listing past this is not read further (a failure anyway)


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


def test_sixteen_listings_of_1000_tasks_of_1_mib_stay_under_300_mb(tmp_path, start_service):
    db_file = tmp_path / "tasks.db"
    flags = ("--simulated-work", "0", "--max-body", str(TASKS_PER_POST * MIB + MIB))
    filler = start_service(f"sqlite:///{db_file}", *flags)
    service = None
    try:
        # Given: 1,000 tasks of 1 MiB each, due in an hour (so none runs), stored by one
        # process; the listings go to a fresh one, so that its memory is that of reads
        blob = "x" * (MIB - 100)
        for _ in range(TASKS // TASKS_PER_POST):
            batch = [{"action": "big", "data": {"blob": blob}, "delay": 3600}] * TASKS_PER_POST
            response = post_json(filler.base_url, batch)
            assert response.status == 202, response.body
        filler.signal(signal.SIGTERM)
        assert filler.wait(30) == 0
        service = start_service(f"sqlite:///{db_file}", *flags)
        pid = service.process.pid
        # When: sixteen clients list 1,000 tasks at once, while its RSS is watched
        before = peak = rss_bytes(pid)
        killed = threading.Event()
        done = threading.Event()

        def watch() -> None:
            nonlocal peak
            pause = threading.Event()
            while not done.is_set():
                try:
                    peak = max(peak, rss_bytes(pid))
                except (OSError, AssertionError):
                    return  # the process is gone
                if peak > RSS_LIMIT_BYTES:
                    service.process.send_signal(signal.SIGKILL)
                    killed.set()
                    return
                pause.wait(RSS_POLL_SECONDS)

        answers: list[object] = []

        def list_all() -> None:
            connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=120)
            try:
                connection.request("GET", f"/tasks?limit={TASKS}")
                response = connection.getresponse()
                body = response.read(MAX_READ_BYTES)
                answers.append((response.status, len(body)))
            except (OSError, http.client.HTTPException) as exc:
                answers.append(repr(exc))
            finally:
                connection.close()

        watcher = threading.Thread(target=watch, daemon=True)
        clients = [threading.Thread(target=list_all) for _ in range(LISTINGS)]
        watcher.start()
        for client in clients:
            client.start()
        for client in clients:
            client.join(180)
        done.set()
        watcher.join(10)
        # Then: the service stayed under the bound and answered every listing in full
        assert not killed.is_set(), (
            f"RSS reached {peak / 1e6:.0f} MB (> {RSS_LIMIT_BYTES / 1e6:.0f} MB; "
            f"{before / 1e6:.0f} MB before the listings): killed; "
            f"answers so far: {answers}"
        )
        assert peak <= RSS_LIMIT_BYTES, f"peak RSS {peak / 1e6:.0f} MB"
        assert len(answers) == LISTINGS and all(
            isinstance(a, tuple) and a[0] == 200 for a in answers
        ), answers
    finally:
        filler.stop()
        if service is not None:
            service.stop()
        for path in tmp_path.glob("tasks.db*"):
            path.unlink()  # a gigabyte: not kept for pytest's last three runs
