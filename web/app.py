"""The CherryPy application and the HTTP server around it."""

from __future__ import annotations

import cherrypy
import orjson
import pykka
from cherrypy import _cplogging

import models

from .errors import error_body, json_error_page, json_unexpected_error
from .openapi import build_document
from .protocol_errors import use_json_protocol_errors
from .tasks import DEFAULT_MAX_BODY_BYTES, TasksResource

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_THREADS = 16  # request threads; each keeps its own database connection
SOCKET_QUEUE_SIZE = 128


def _no_padding(status: object) -> None:
    """CherryPy pads error bodies past 512 bytes with spaces for old Internet
    Explorer; that would break our compact JSON error bodies."""


cherrypy._cperror._be_ie_unfriendly = _no_padding


class Root:
    """``/openapi.json``; anything else outside /tasks is a JSON 404."""

    def __init__(self, max_body_bytes: int) -> None:
        self._openapi = orjson.dumps(build_document(max_body_bytes))

    @cherrypy.expose
    def openapi_json(self) -> bytes:  # CherryPy maps "openapi.json" to this name
        if cherrypy.serving.request.method not in ("GET", "HEAD"):
            cherrypy.serving.response.headers["Allow"] = "GET, HEAD"
            raise cherrypy.HTTPError(405)
        cherrypy.serving.response.headers["Content-Type"] = "application/json"
        return self._openapi

    @cherrypy.expose
    def default(self, *path: str, **params: object) -> bytes:
        cherrypy.serving.response.status = 404
        cherrypy.serving.response.headers["Content-Type"] = "application/json"
        return error_body("not found")


def build_app(
    intake: models.Intake,
    dispatcher: pykka.ActorRef,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> cherrypy.Application:
    common = {
        "error_page.default": json_error_page,
        "request.error_response": json_unexpected_error,
        "request.show_tracebacks": False,
        "request.show_mismatched_params": False,
        # Handlers return encoded JSON bytes and paths have no trailing-slash
        # variants: two tools that would otherwise run on every request.
        "tools.encode.on": False,
        "tools.trailing_slash.on": False,
    }
    config = {
        "/": common,
        "/tasks": {
            **common,
            # The handler reads the raw body itself, with a size limit.
            "request.process_request_body": False,
        },
    }
    root = Root(max_body_bytes)
    root.tasks = TasksResource(intake, dispatcher, max_body_bytes)
    app = cherrypy.Application(root, "", config)
    app.log = _NoAccessLog(id(app), cherrypy.log.logger_root)
    return app


class _NoAccessLog(_cplogging.LogManager):
    """The app's log without the access log: the service logs one line per task
    event, and formatting an access line (with a fresh UUID) for every request
    costs more than the rest of a POST's handling."""

    def access(self) -> None:
        pass


def start_server(
    app: cherrypy.Application,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    threads: int = DEFAULT_THREADS,
) -> None:
    """Start serving in background threads; ``stop_server`` undoes it.

    CherryPy's own signal handling is left off: run.py owns SIGTERM/SIGINT so
    that a stop drains the workers after the HTTP server closes.
    """
    cherrypy.tree.mount(app, "")
    cherrypy.config.update(
        {
            "server.socket_host": host,
            "server.socket_port": port,
            "server.thread_pool": threads,
            "server.socket_queue_size": SOCKET_QUEUE_SIZE,
            "server.max_request_body_size": 0,  # the handler enforces the limit, as JSON
            "engine.autoreload.on": False,
            "checker.on": False,
            "log.screen": False,
            "environment": "production",
        }
    )
    server = cherrypy.server
    server.httpserver, server.bind_addr = server.httpserver_from_self()
    use_json_protocol_errors(server.httpserver)
    try:
        cherrypy.engine.start()
    except Exception as exc:  # e.g. the port is taken: CherryPy has already logged why
        raise OSError(f"HTTP server did not start on {host}:{port}: {exc}") from exc


def stop_server() -> None:
    """Stop accepting requests and let the running ones finish."""
    cherrypy.engine.exit()
