"""Settings of the HTTP side, each default a named constant with its unit."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_THREADS = 16  # request threads; each keeps its own database connection
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_MAX_ABANDONED_THREADS = 10  # past this many, /readyz asks for a restart


@dataclass(frozen=True)
class WebConfig:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    threads: int = DEFAULT_THREADS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_waiters: int | None = None  # requests that may wait for a task at once; None: threads/2
    max_abandoned_threads: int = DEFAULT_MAX_ABANDONED_THREADS
    drain_seconds: float = 0.0  # after a stop signal, /readyz says 503 this long before closing

    @property
    def waiters_allowed(self) -> int:
        return self.threads // 2 if self.max_waiters is None else self.max_waiters
