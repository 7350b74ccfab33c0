"""JSON response bodies: every answer of the service is JSON."""

from __future__ import annotations

from typing import Any

import cherrypy
import orjson


def json_body(value: Any, status: int = 200) -> bytes:
    """Set the status and JSON content type on the current response; return ``value`` encoded."""
    response = cherrypy.serving.response
    response.status = status
    response.headers["Content-Type"] = "application/json"
    return orjson.dumps(value)


def json_error(status: int, message: str) -> bytes:
    """An error answer: ``{"error": message}`` with ``status``."""
    return json_body({"error": message}, status)
