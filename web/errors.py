"""The one place that maps errors to HTTP statuses; every error body is ``{"error": "..."}``."""

from __future__ import annotations

import logging

import cherrypy
import orjson

from models import InvalidInput, PayloadTooLarge, TaskNotFound, TaskQueueError, Unavailable

logger = logging.getLogger("taskqueue.web")


class UnsupportedMediaType(TaskQueueError):
    """The body is not declared as JSON."""


STATUS_BY_ERROR: dict[type[TaskQueueError], int] = {
    InvalidInput: 400,
    TaskNotFound: 404,
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    Unavailable: 503,
}

# Messages for the errors CherryPy itself raises (routing, methods), by status.
_CHERRYPY_MESSAGES = {
    400: "bad request",
    404: "not found",
    405: "method not allowed",
    411: "length required",
    413: "request body too large",
    414: "request URI too long",
    500: "internal server error",
}


def error_body(message: str) -> bytes:
    return orjson.dumps({"error": message})


def respond_with_error(error: TaskQueueError) -> bytes:
    """Set the status (and headers) for ``error`` on the current response; return its body."""
    response = cherrypy.serving.response
    status = STATUS_BY_ERROR.get(type(error), 500)
    response.status = status
    response.headers["Content-Type"] = "application/json"
    if isinstance(error, Unavailable):
        response.headers["Retry-After"] = str(error.retry_after_seconds)
    if isinstance(error, PayloadTooLarge):
        # The rest of the body was never read: the connection cannot be reused.
        response.headers["Connection"] = "close"
    return error_body(str(error))


def json_error_page(status: str, message: str, traceback: str, version: str) -> bytes:
    """CherryPy's ``error_page.default``: its own errors (404, 405, …) as JSON."""
    code = int(str(status).split()[0])
    cherrypy.serving.response.headers["Content-Type"] = "application/json"
    return error_body(_CHERRYPY_MESSAGES.get(code, str(status).partition(" ")[2].lower()))


def json_unexpected_error() -> None:
    """CherryPy's ``request.error_response``: a bug becomes a logged JSON 500, no traceback."""
    logger.exception("unhandled error in request handler")
    response = cherrypy.serving.response
    response.status = 500
    response.headers["Content-Type"] = "application/json"
    response.body = [error_body("internal server error")]
