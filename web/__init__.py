"""The HTTP side: the CherryPy application, its routes and handlers."""

from .app import build_app, start_server, stop_server
from .config import (
    DEFAULT_HOST,
    DEFAULT_IDLE_TIMEOUT_SECONDS,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_CLIENT_CONNECTIONS,
    DEFAULT_PORT,
    DEFAULT_REQUEST_TIMEOUT_SECONDS,
    DEFAULT_THREADS,
    WebConfig,
)
from .validation import check_queue_name

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_IDLE_TIMEOUT_SECONDS",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_CLIENT_CONNECTIONS",
    "DEFAULT_PORT",
    "DEFAULT_REQUEST_TIMEOUT_SECONDS",
    "DEFAULT_THREADS",
    "WebConfig",
    "build_app",
    "check_queue_name",
    "start_server",
    "stop_server",
]
