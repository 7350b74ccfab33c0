"""Run wrk (Debian's package) against one URL and return its numbers."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).with_name("wrk.lua")
WRK_THREADS = 2  # one per core of the reference machine
TIMEOUT_MARGIN_SECONDS = 30.0


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    errors: int  # connect/read/write/timeout errors and HTTP statuses >= 400
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rate(self) -> float:
        return (self.requests - self.errors) / self.seconds


def available() -> bool:
    return shutil.which("wrk") is not None


def run(
    url: str,
    seconds: float,
    connections: int,
    threads: int = WRK_THREADS,
    post_body: Path | None = None,
) -> WrkResult:
    """``wrk -t threads -c connections -d seconds``; POSTs ``post_body`` if given, else GETs."""
    threads = min(threads, connections)
    argv = [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{seconds:g}s",
        "--timeout",
        "10s",
        "-s",
        str(SCRIPT),
        url,
    ]
    if post_body is not None:
        argv += ["--", "post", str(post_body)]
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=seconds + TIMEOUT_MARGIN_SECONDS, check=True
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    errors = sum(data[key] for key in data if key.startswith("errors_"))
    return WrkResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        errors=errors,
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
    )
