"""HTTP load from Python, spread over processes so one GIL is never the bottleneck.

- ``closed_loop``: C clients in C processes, each on one keep-alive
  connection, sending the same request back to back for a fixed time (the
  bulk scenario, and enqueue when wrk is missing).
- ``OpenLoop``: requests at a fixed rate on a schedule, in one process
  with enough threads that a slow answer delays no later request; each
  accepted task id is handed over with the time it was *meant* to be sent,
  so a stall counts against the server (no coordinated omission).
"""

from __future__ import annotations

import http.client
import itertools
import json
import multiprocessing
import queue
import select
import threading
import time
from dataclasses import dataclass

from bench.stats import percentile

JSON_HEADERS = {"Content-Type": "application/json"}
CLIENT_START_TIMEOUT_SECONDS = 30.0
REQUEST_TIMEOUT_SECONDS = 30.0
OPEN_LOOP_THREADS = 16

_mp = multiprocessing.get_context("spawn")


def _host_port(base_url: str) -> tuple[str, int]:
    host, _, port = base_url.removeprefix("http://").partition(":")
    return host, int(port)


@dataclass(frozen=True)
class ClosedLoopResult:
    ok: int  # responses with the expected status
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    sample: bytes  # one response body, to check what the server said

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


def _closed_loop_client(
    base_url, method, path, body, expect_status, seconds, ready, go, results
) -> None:
    host, port = _host_port(base_url)
    conn = http.client.HTTPConnection(host, port, timeout=REQUEST_TIMEOUT_SECONDS)
    conn.connect()
    headers = JSON_HEADERS if body is not None else {}
    latencies: list[float] = []
    errors = 0
    sample = b""
    ready.put(True)
    go.wait(CLIENT_START_TIMEOUT_SECONDS)
    started = time.monotonic()
    deadline = started + seconds
    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            conn = http.client.HTTPConnection(host, port, timeout=REQUEST_TIMEOUT_SECONDS)
            continue
        if response.status == expect_status:
            latencies.append(time.perf_counter() - t0)
            sample = sample or data
        else:
            errors += 1
            sample = data
    finished = time.monotonic()
    conn.close()
    results.put((latencies, errors, started, finished, sample))


def closed_loop(
    base_url: str,
    method: str,
    path: str,
    body: bytes | None,
    expect_status: int,
    clients: int,
    seconds: float,
) -> ClosedLoopResult:
    """``clients`` processes, one keep-alive connection each, for ``seconds``."""
    ready, results, go = _mp.Queue(), _mp.Queue(), _mp.Event()
    workers = [
        _mp.Process(
            target=_closed_loop_client,
            args=(base_url, method, path, body, expect_status, seconds, ready, go, results),
        )
        for _ in range(clients)
    ]
    for worker in workers:
        worker.start()
    try:
        for _ in workers:
            ready.get(timeout=CLIENT_START_TIMEOUT_SECONDS)
        go.set()
        outcomes = [results.get(timeout=seconds + REQUEST_TIMEOUT_SECONDS + 10) for _ in workers]
    finally:
        for worker in workers:
            worker.join(5)
            if worker.is_alive():
                worker.kill()
                worker.join()
    latencies = sorted(x for outcome in outcomes for x in outcome[0])
    elapsed = max(o[3] for o in outcomes) - min(o[2] for o in outcomes)
    return ClosedLoopResult(
        ok=len(latencies),
        errors=sum(o[1] for o in outcomes),
        seconds=elapsed,
        p50_ms=percentile(latencies, 50) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        sample=next((o[4] for o in outcomes if o[4]), b""),
    )


def _closed_by_server(conn: http.client.HTTPConnection) -> bool:
    """Whether an idle keep-alive connection was closed by the server (it is readable:
    the end of the stream); checked before reusing it, as urllib3 does, since a server
    closes idle connections after its timeout (ours, cheroot's and nginx's alike)."""
    if conn.sock is None:
        return False
    readable, _, _ = select.select([conn.sock], [], [], 0)
    return bool(readable)


def _open_loop_sender(base_urls, bodies, rate, count, start_at, accepted, threads) -> None:
    """Request i is due at ``start_at + i / rate`` (monotonic clock, shared by processes);
    it goes to ``base_urls[i % n]`` with ``bodies[i % m]``."""
    addresses = [_host_port(base_url) for base_url in base_urls]
    next_index = itertools.count()
    lock = threading.Lock()

    def send() -> None:
        conns = [
            http.client.HTTPConnection(host, port, timeout=REQUEST_TIMEOUT_SECONDS)
            for host, port in addresses
        ]
        while True:
            with lock:
                index = next(next_index)
            if index >= count:
                break
            due = start_at + index / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            which = index % len(conns)
            conn = conns[which]
            if _closed_by_server(conn):
                conn.close()  # the next request opens a new one
            body = bodies[index % len(bodies)]
            sent = time.monotonic()
            try:
                conn.request("POST", "/tasks", body=body, headers=JSON_HEADERS)
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                host, port = addresses[which]
                conns[which] = http.client.HTTPConnection(
                    host, port, timeout=REQUEST_TIMEOUT_SECONDS
                )
                accepted.put(("error", due, sent, time.monotonic(), repr(exc)))
                continue
            answered = time.monotonic()
            if response.status == 202:
                accepted.put((json.loads(data)["id"], due, sent, answered, None))
            else:
                accepted.put(("error", due, sent, answered, f"HTTP {response.status}"))
        for conn in conns:
            conn.close()

    pool = [threading.Thread(target=send, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    accepted.put(None)


class OpenLoop:
    """A sender process at a fixed rate; ``accepted`` yields ``(id, due, sent, answered, error)``
    tuples and finally ``None``. With several URLs (nodes) the requests go to each in turn;
    with several bodies, likewise."""

    def __init__(
        self,
        base_urls: list[str],
        bodies: list[bytes],
        rate: float,
        count: int,
        lead_seconds: float = 0.5,
        threads: int = OPEN_LOOP_THREADS,
    ) -> None:
        self.accepted = _mp.Queue()
        self.start_at = time.monotonic() + lead_seconds  # time for the process to spawn
        self._process = _mp.Process(
            target=_open_loop_sender,
            args=(base_urls, bodies, rate, count, self.start_at, self.accepted, threads),
        )

    def __enter__(self) -> OpenLoop:
        self._process.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._process.join(REQUEST_TIMEOUT_SECONDS)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()

    def get(self, timeout: float) -> tuple | None:
        """The next accepted task, ``None`` when the sender is done; raises ``queue.Empty``."""
        return self.accepted.get(timeout=timeout)


Empty = queue.Empty
