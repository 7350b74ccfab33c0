"""The HTTP side: the CherryPy application, its routes and handlers."""

from .access import Gate, exposure_problem, exposure_warning
from .app import build_app, start_server, stop_server
from .auth import (
    TokenFileError,
    TokenTable,
    check_token_name,
    load_tokens,
    new_token,
    parse_role,
)
from .browser import BadOrigin, parse_origin
from .config import (
    DEFAULT_HOST,
    DEFAULT_IDLE_TIMEOUT_SECONDS,
    DEFAULT_MAX_ABANDONED_THREADS,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_CLIENT_CONNECTIONS,
    DEFAULT_PORT,
    DEFAULT_REQUEST_TIMEOUT_SECONDS,
    DEFAULT_THREADS,
    WebConfig,
)
from .health import Liveness
from .router import Role
from .server import tls_problem
from .validation import check_queue_name

__all__ = [
    "BadOrigin",
    "Gate",
    "TokenFileError",
    "TokenTable",
    "check_token_name",
    "tls_problem",
    "exposure_problem",
    "exposure_warning",
    "load_tokens",
    "new_token",
    "parse_origin",
    "parse_role",
    "DEFAULT_HOST",
    "DEFAULT_MAX_ABANDONED_THREADS",
    "DEFAULT_IDLE_TIMEOUT_SECONDS",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_CLIENT_CONNECTIONS",
    "DEFAULT_PORT",
    "DEFAULT_REQUEST_TIMEOUT_SECONDS",
    "DEFAULT_THREADS",
    "Liveness",
    "Role",
    "WebConfig",
    "build_app",
    "check_queue_name",
    "start_server",
    "stop_server",
]
