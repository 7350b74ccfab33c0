"""The app's request cycle in process, through CherryPy's WSGI side: the settings that
``_JsonErrorsRequest`` carries as class attributes hold, and none of CherryPy's
global tools run (``Router`` gives each request the app's own config only)."""

from __future__ import annotations

import io
import logging
import sys

import orjson
import pytest

import actors
from web.app import build_app
from web.config import WebConfig


class _BrokenRegistry(actors.ActionRegistry):
    """A registry whose listing is a bug: GET /actions fails inside its handler."""

    def actions(self):
        raise RuntimeError("a bug in a handler")


class _CountingBody(io.RawIOBase):
    """A request body of ``size`` bytes that counts what was read of it."""

    def __init__(self, size: int) -> None:
        self.left, self.taken = size, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = min(len(buffer), self.left)
        buffer[:count] = b"a" * count
        self.left -= count
        self.taken += count
        return count


def _call(
    app,
    path: str,
    query: str = "",
    host: str | None = "127.0.0.1:8080",
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: io.RawIOBase | None = None,
) -> tuple[str, dict[str, str], bytes]:
    """One request through the app's WSGI side; (status, headers, body)."""
    answer: dict = {}

    def start_response(status, headers, exc_info=None):
        answer["status"], answer["headers"] = status, dict(headers)

    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SCRIPT_NAME": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8080",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "ACTUAL_SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "50000",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b"") if body is None else body,
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if host is not None:
        environ["HTTP_HOST"] = host
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value
    chunks = app(environ, start_response)
    try:
        body = b"".join(chunks)
    finally:
        chunks.close()
    return answer["status"], answer["headers"], body


@pytest.fixture
def broken_app():
    registry = _BrokenRegistry(actors.registry.fallback)
    return build_app(None, None, None, WebConfig(), registry=registry)


def test_a_bug_in_a_handler_is_a_json_500_whose_traceback_is_logged_once(broken_app, caplog):
    with caplog.at_level(logging.DEBUG):
        status, headers, body = _call(broken_app, "/actions")
    assert status.startswith("500")
    assert headers["Content-Type"] == "application/json"
    assert orjson.loads(body) == {"error": "internal server error"}
    assert b"Traceback" not in body and b"a bug in a handler" not in body
    with_traceback = [
        record
        for record in caplog.records
        if record.exc_info is not None or "Traceback" in record.getMessage()
    ]
    # CherryPy's global log_tracebacks tool, if it ran, would log it a second time.
    assert [record.name for record in with_traceback] == ["taskqueue.web"]
    assert "a bug in a handler" in caplog.text


def test_a_query_string_that_is_not_utf8_is_the_routers_400(broken_app):
    """CherryPy parses the query string too: as Latin-1 (a class attribute), it cannot fail
    before the router answers."""
    status, headers, body = _call(broken_app, "/tasks", "status=%ff")
    assert status.startswith("400")
    assert orjson.loads(body) == {"error": "the query string is not valid UTF-8"}


def test_an_error_cherrypy_raises_itself_is_json(broken_app):
    """CherryPy refuses an HTTP/1.1 request without Host before any config applies: its
    error page is the class attribute's."""
    status, headers, body = _call(broken_app, "/actions", host=None)
    assert status.startswith("400")
    assert headers["Content-Type"] == "application/json"
    assert orjson.loads(body) == {"error": "the Host header is missing"}


def test_cherrypy_never_reads_a_body_the_handler_refuses(broken_app):
    """A form body is CherryPy's to parse, whole and without a limit, unless the
    request's ``process_request_body`` is off: it must stay unread."""
    size = 4 * 1024 * 1024
    body = _CountingBody(size)
    status, headers, answer = _call(
        broken_app,
        "/tasks",
        method="POST",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Content-Length": str(size),
        },
        body=body,
    )
    assert status.startswith("415")
    assert orjson.loads(answer) == {"error": "Content-Type must be application/json"}
    assert body.taken == 0
