"""The HTTP side: the CherryPy application, its routes and handlers."""

from .app import build_app, start_server, stop_server
from .config import (
    DEFAULT_HOST,
    DEFAULT_MAX_ABANDONED_THREADS,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_PORT,
    DEFAULT_THREADS,
    WebConfig,
)
from .health import Liveness
from .validation import check_queue_name

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_MAX_ABANDONED_THREADS",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_PORT",
    "DEFAULT_THREADS",
    "Liveness",
    "WebConfig",
    "build_app",
    "check_queue_name",
    "start_server",
    "stop_server",
]
