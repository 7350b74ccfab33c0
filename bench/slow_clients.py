"""Slow and idle clients held open against a service, and what a legitimate client sees
meanwhile: the harness of the bench's ``slow`` scenario and of ``test_slow_clients.py``.

An ``Attack`` keeps ``idle`` connections that send nothing and ``slow`` connections
that send one header line every ``line_interval`` seconds, spread over several
loopback source addresses (127.0.0.2, 127.0.0.3, …): several clients, as the
per-client connection cap sees them. A connection the server closes is opened
again at once, so the count stays up for as long as the attack runs. Only
loopback addresses are ever used, and everything stops by itself.

``probe`` meanwhile POSTs a task on a fresh connection every ``interval``
seconds, from 127.0.0.1, and records each answer's latency (or its failure).

Run as a script against a service already listening on 127.0.0.1:PORT, to measure:
``python -m bench.slow_clients PORT --seconds 60`` (``--help`` for the rest).
"""

from __future__ import annotations

import argparse
import http.client
import selectors
import socket
import sys
import threading
import time
from dataclasses import dataclass, field

import orjson

LINE_INTERVAL_SECONDS = 5.0
ATTACK_SOURCES = tuple(f"127.0.0.{n}" for n in range(2, 10))  # eight "clients"
PROBE_TIMEOUT_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 5.0
SLOW_REQUEST_HEAD = b"POST /tasks HTTP/1.1\r\nHost: 127.0.0.1\r\n"


@dataclass
class _Held:
    sock: socket.socket
    slow: bool
    source: str
    next_line_at: float = 0.0
    lines: int = 0


@dataclass
class AttackStats:
    opened: int = 0  # connections opened, first ones and reopened ones
    refused: int = 0  # connects that failed (refused, reset, timed out)
    closed_by_server: int = 0
    answers: dict[str, int] = field(default_factory=dict)  # status line → count
    open_now: int = 0
    most_open: int = 0


class Attack:
    """Holds ``idle + slow`` connections open from a background thread until ``stop``."""

    def __init__(
        self,
        port: int,
        idle: int = 100,
        slow: int = 100,
        line_interval: float = LINE_INTERVAL_SECONDS,
        sources: tuple[str, ...] = ATTACK_SOURCES,
        wrap=None,
    ) -> None:
        self._port = port
        self._line_interval = line_interval
        self._sources = sources
        self._wrap = wrap  # e.g. an ssl context's wrap_socket, for a TLS service
        self._kinds = [False] * idle + [True] * slow
        self._selector = selectors.DefaultSelector()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.stats = AttackStats()
        self.all_open = threading.Event()

    def __enter__(self) -> Attack:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        for key in list(self._selector.get_map().values()):
            key.fileobj.close()
        self._selector.close()

    def _open(self, index: int) -> None:
        slow = self._kinds[index]
        source = self._sources[index % len(self._sources)]
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((source, 0))
            sock.settimeout(CONNECT_TIMEOUT_SECONDS)
            sock.connect(("127.0.0.1", self._port))
            if self._wrap is not None:
                sock = self._wrap(sock)
            if slow:
                sock.sendall(SLOW_REQUEST_HEAD)
        except OSError:
            sock.close()
            self.stats.refused += 1
            return
        sock.setblocking(False)
        held = _Held(sock, slow, source, time.monotonic() + self._line_interval)
        self._selector.register(sock, selectors.EVENT_READ, (index, held))
        self.stats.opened += 1

    def _run(self) -> None:
        for index in range(len(self._kinds)):
            if self._stop.is_set():
                return
            self._open(index)
        self._count()
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.1):
                index, held = key.data
                self._read(index, held)
            now = time.monotonic()
            for key in list(self._selector.get_map().values()):
                index, held = key.data
                if held.slow and now >= held.next_line_at:
                    try:
                        held.sock.send(b"X-Slow-%d: %d\r\n" % (held.lines, index))
                    except (BlockingIOError, OSError):
                        self._closed(index, held)
                        continue
                    held.lines += 1
                    held.next_line_at = now + self._line_interval
            # Reopen what the server closed, so that the count stays up.
            open_indexes = {key.data[0] for key in self._selector.get_map().values()}
            for index in range(len(self._kinds)):
                if index not in open_indexes and not self._stop.is_set():
                    self._open(index)
            self._count()

    def _count(self) -> None:
        self.stats.open_now = len(self._selector.get_map())
        self.stats.most_open = max(self.stats.most_open, self.stats.open_now)
        if self.stats.open_now == len(self._kinds):
            self.all_open.set()

    def _read(self, index: int, held: _Held) -> None:
        try:
            data = held.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data.startswith(b"HTTP/"):
            status = data.split(b"\r\n", 1)[0].decode("latin-1")
            self.stats.answers[status] = self.stats.answers.get(status, 0) + 1
        self._closed(index, held)

    def _closed(self, index: int, held: _Held) -> None:
        self._selector.unregister(held.sock)
        held.sock.close()
        self.stats.closed_by_server += 1


@dataclass
class ProbeResult:
    latencies_ms: list[float]
    failures: list[str]

    @property
    def answered(self) -> int:
        return len(self.latencies_ms)

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("inf")
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    def summary(self) -> str:
        return (
            f"{self.answered} answered, {len(self.failures)} failed; "
            f"p50 {self.percentile(0.5):.1f} ms, p99 {self.percentile(0.99):.1f} ms, "
            f"max {max(self.latencies_ms, default=float('inf')):.1f} ms"
        )


def probe(
    port: int,
    seconds: float,
    interval: float,
    connect=None,
    headers: dict[str, str] | None = None,
) -> ProbeResult:
    """For ``seconds``, POST a task every ``interval`` seconds, one at a time, each on a fresh
    connection (``connect()`` makes it; plain HTTP to 127.0.0.1 by default). A 202 counts
    its latency; anything else (another status, an error, no answer within
    ``PROBE_TIMEOUT_SECONDS``) is a failure."""
    body = orjson.dumps({"action": "uppercase", "data": {"text": "probe"}})
    sent_headers = {"Content-Type": "application/json", **(headers or {})}
    result = ProbeResult([], [])
    pause = threading.Event()  # never set: a pause between probes
    ends_at = time.perf_counter() + seconds
    while time.perf_counter() < ends_at:
        started = time.perf_counter()
        if connect is None:
            connection = http.client.HTTPConnection(
                "127.0.0.1", port, timeout=PROBE_TIMEOUT_SECONDS
            )
        else:
            connection = connect()
        try:
            connection.request("POST", "/tasks", body, sent_headers)
            response = connection.getresponse()
            response.read()
            if response.status == 202:
                result.latencies_ms.append((time.perf_counter() - started) * 1000)
            else:
                result.failures.append(f"status {response.status}")
        except (OSError, http.client.HTTPException) as exc:
            result.failures.append(repr(exc))
        finally:
            connection.close()
        pause.wait(max(0.0, interval - (time.perf_counter() - started)))
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Slow and idle clients against 127.0.0.1:PORT")
    parser.add_argument("port", type=int)
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to probe")
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between probes")
    parser.add_argument("--idle", type=int, default=100, help="connections sending nothing")
    parser.add_argument("--slow", type=int, default=100, help="connections sending slowly")
    args = parser.parse_args(argv[1:])
    with Attack(args.port, idle=args.idle, slow=args.slow) as attack:
        attack.all_open.wait(30)
        print(f"attack: {attack.stats.open_now} connections open", flush=True)
        result = probe(args.port, args.seconds, args.interval)
        print(f"attack: {attack.stats}")
    print(f"probes: {result.summary()}")
    print(f"failures (first 5): {result.failures[:5]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
