"""The CherryPy application and its handlers."""

from .app import DEFAULT_HOST, DEFAULT_PORT, DEFAULT_THREADS, build_app, start_server, stop_server
from .tasks import DEFAULT_MAX_BODY_BYTES, TasksResource

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_PORT",
    "DEFAULT_THREADS",
    "TasksResource",
    "build_app",
    "start_server",
    "stop_server",
]
