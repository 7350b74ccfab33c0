"""The one place that maps errors to HTTP statuses; every error body is ``{"error": "..."}``."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

import cherrypy
import orjson

import models

from .responses import json_error

logger = logging.getLogger("taskqueue.web")


class UnsupportedMediaType(models.TaskQueueError):
    """The body is not declared as JSON."""


class IdempotencyMismatch(models.TaskQueueError):
    """An idempotency key comes back with a different request than it was first used for."""


class RequestTimeout(models.TaskQueueError):
    """The body did not arrive before the request's deadline (``--request-timeout``)."""


STATUS_BY_ERROR: dict[type[models.TaskQueueError], int] = {
    models.InvalidInput: 400,
    models.TaskNotFound: 404,
    models.Conflict: 409,
    IdempotencyMismatch: 422,
    RequestTimeout: 408,
    models.PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    models.Unavailable: 503,
}

# Messages for the errors CherryPy itself may still raise, by status.
_CHERRYPY_MESSAGES = {
    400: "bad request",
    408: "request timeout",
    404: "not found",
    405: "method not allowed",
    411: "length required",
    413: "request body too large",
    414: "request URI too long",
    500: "internal server error",
}


def respond_with_error(error: models.TaskQueueError) -> bytes:
    """Set the status (and headers) for ``error`` on the current response; return its body."""
    response = cherrypy.serving.response
    if isinstance(error, models.Unavailable):
        response.headers["Retry-After"] = str(error.retry_in_seconds)
    if isinstance(error, models.PayloadTooLarge | RequestTimeout):
        # The rest of the body was never read: the connection cannot be reused.
        response.headers["Connection"] = "close"
    return json_error(STATUS_BY_ERROR.get(type(error), 500), str(error))


def handles_errors(handler: Callable[..., bytes]) -> Callable[..., bytes]:
    """Decorate a handler method of a resource that has a ``store``: the service's
    errors become their JSON answers, and a database in trouble a 503 (the
    thread's connection is replaced at its next call)."""

    @functools.wraps(handler)
    def wrapper(resource, *args, **kwargs) -> bytes:
        try:
            return handler(resource, *args, **kwargs)
        except models.TaskQueueError as error:
            return respond_with_error(error)
        except models.StorageError as error:
            resource.store.discard_connection()
            return respond_with_error(resource.store.unavailable(error))

    return wrapper


def json_error_page(status: str, message: str, traceback: str, version: str) -> bytes:
    """CherryPy's ``error_page.default``: any error CherryPy raises itself, as JSON."""
    code = int(str(status).split()[0])
    cherrypy.serving.response.headers["Content-Type"] = "application/json"
    text = _CHERRYPY_MESSAGES.get(code, str(status).partition(" ")[2].lower())
    if code == 400 and message and "requires a 'Host'" in message:
        text = "the Host header is missing"  # as the router says it (HTTP/1.1 requires it)
    return orjson.dumps({"error": text})


def json_unexpected_error() -> None:
    """CherryPy's ``request.error_response``: a bug becomes a logged JSON 500, no traceback."""
    logger.exception("unhandled error in request handler")
    response = cherrypy.serving.response
    response.status = 500
    response.headers["Content-Type"] = "application/json"
    response.body = [orjson.dumps({"error": "internal server error"})]
