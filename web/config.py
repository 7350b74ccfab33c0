"""Settings of the HTTP side, each default a named constant with its unit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .auth import TokenTable

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_THREADS = 16  # request threads; each keeps its own database connection
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_MAX_ABANDONED_THREADS = 10  # past this many, /readyz asks for a restart
# From a request's first byte until its headers and body are all in: a client that
# sends slower is answered 408 and disconnected.
DEFAULT_REQUEST_TIMEOUT_SECONDS = 30.0
# A connection with no request under way (new, or kept alive after one) is closed after this.
DEFAULT_IDLE_TIMEOUT_SECONDS = 10.0
# Connections one client address may hold open at once; 0: no cap.
DEFAULT_MAX_CLIENT_CONNECTIONS = 64
# Connections open at once in all; past it a new one is answered 503 and closed.
MAX_CONNECTIONS = 4096
# The request line and headers together (CherryPy's default): a longer head is a 413/414.
MAX_HEADER_BYTES = 500 * 1024


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

    request_timeout_seconds: float = DEFAULT_REQUEST_TIMEOUT_SECONDS
    idle_timeout_seconds: float = DEFAULT_IDLE_TIMEOUT_SECONDS
    max_client_connections: int = DEFAULT_MAX_CLIENT_CONNECTIONS  # 0: no cap
    # Who may call: the tokens of --token-file; None: loopback clients only, unless
    # insecure_no_auth.
    tokens: TokenTable | None = None
    insecure_no_auth: bool = False
    metrics_public: bool = False  # /metrics without a token
    allow_origins: tuple[str, ...] = ()  # web origins besides the service's own
    allow_hosts: tuple[str, ...] = ()  # Host names accepted besides the loopback ones
    tls_cert: str | None = None
    tls_key: str | None = None

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None
