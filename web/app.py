"""The CherryPy application and the HTTP server around it."""

from __future__ import annotations

import logging

import cherrypy
import pykka
from cherrypy import _cplogging, _cprequest

import actors
import models

from .access import Gate
from .actions import ActionsResource
from .config import WebConfig
from .control import ControlResource
from .deliveries import DeliveriesResource
from .docs import DocsResource
from .errors import json_error_page, json_unexpected_error
from .health import HealthResource, Liveness
from .history import HistoryResource
from .queues import QueuesResource
from .router import Router
from .routes import build_routes
from .schedules import SchedulesResource
from .server import install
from .tasks import TasksResource
from .waiting import Waiters

# Connections the kernel holds until the selector accepts them. Past it, it drops a new
# connection's handshake, and the client tries again a second later: a burst of
# connections (a reconnecting pool, a flood of idle ones) must not cost that.
SOCKET_QUEUE_SIZE = 1024

logger = logging.getLogger("taskqueue.web")


def build_app(
    store: models.Store,
    intake: models.Intake,
    dispatcher: pykka.ActorRef,
    config: WebConfig | None = None,
    queue_config: actors.QueueConfig | None = None,
    registry: actors.ActionRegistry | None = None,
    board: actors.FinishedBoard | None = None,
    liveness: Liveness | None = None,
    gate: Gate | None = None,
) -> cherrypy.Application:
    config = config or WebConfig()
    queue_config = queue_config or actors.QueueConfig()
    registry = registry or actors.registry
    board = board or actors.FinishedBoard()
    body = config.max_body_bytes
    waiters = Waiters(board, config.waiters_allowed)
    router = Router(
        build_routes(
            TasksResource(store, intake, dispatcher, body, queue_config, registry, waiters),
            ControlResource(store, dispatcher, body, queue_config, board),
            QueuesResource(store, dispatcher),
            ActionsResource(registry, queue_config),
            HistoryResource(store, queue_config),
            HealthResource(store, liveness or _alive_always(config)),
            DocsResource(config),
            SchedulesResource(store, dispatcher, body, queue_config, registry),
            DeliveriesResource(store),
        ),
        guard=gate or Gate(config),
    )
    if config.tokens is not None:
        logger.info(
            "access by token tokens=%d file=%s", len(config.tokens.tokens), config.tokens.path
        )
    elif not config.insecure_no_auth:
        logger.info("access without tokens: loopback clients only")
    # The whole of a request's config (see ``Router``): CherryPy applies each entry to
    # every request, one by one, and turns on the tools its global defaults name. The
    # request's other settings are ``_JsonErrorsRequest``'s class attributes; only
    # ``error_response`` must be config, since ``Request.run`` resets it.
    app_config = {
        "/": {"request.dispatch": router, "request.error_response": json_unexpected_error}
    }
    app = cherrypy.Application(None, "", app_config)
    app.request_class = _JsonErrorsRequest
    app.log = _NoAccessLog(id(app), cherrypy.log.logger_root)
    return app


def _alive_always(config: WebConfig) -> Liveness:
    """For an app built without a supervisor to watch (tests of the web layer alone)."""
    return Liveness(lambda: True, lambda: False, lambda: 0, config.max_abandoned_threads)


class _JsonErrorsRequest(_cprequest.Request):
    """CherryPy's request with the app's settings as class attributes, so that they hold
    before any config applies (CherryPy refuses an HTTP/1.1 request without ``Host``
    while it reads the headers, and answered that with its HTML page and a
    traceback) and cost nothing per request:

    - errors CherryPy raises itself (``error_page``) are JSON, without a traceback
      (a bug's 500 is the app config's ``request.error_response``);
    - handlers read the raw body themselves, with a size limit;
    - the router decodes the query string as UTF-8 and answers a bad one with 400;
      CherryPy's own parse must then never fail, and Latin-1 cannot.
    """

    error_page = {"default": json_error_page}
    show_tracebacks = False
    show_mismatched_params = False
    process_request_body = False
    query_string_encoding = "latin-1"


class _NoAccessLog(_cplogging.LogManager):
    """The app's log without the access log: the service logs one line per task
    event, and formatting an access line (with a fresh UUID) for every request
    costs more than the rest of a POST's handling.

    CherryPy 18.10 has no public switch that skips the formatting (setting the
    access log's level only drops the formatted line); ``LogManager`` is the
    documented type of ``Application.log``, and this subclass overrides its
    public ``access`` method only.
    """

    def access(self) -> None:
        pass


def start_server(app: cherrypy.Application, config: WebConfig | None = None) -> None:
    """Start serving in background threads; ``stop_server`` undoes it.

    CherryPy's own signal handling is left off: run.py owns SIGTERM/SIGINT so
    that a stop drains the workers after the HTTP server closes. Raises
    ``OSError`` when the server cannot start (the port is taken).
    """
    config = config or WebConfig()
    cherrypy.tree.mount(app, "")
    cherrypy.config.update(
        {
            "server.socket_host": config.host,
            "server.socket_port": config.port,
            "server.thread_pool": config.threads,
            "server.socket_queue_size": SOCKET_QUEUE_SIZE,
            # CherryPy's own checks are off: the server (web/server.py) and the handlers
            # enforce the limits, and answer in JSON.
            "server.max_request_body_size": 0,
            "server.socket_timeout": config.idle_timeout_seconds,
            "engine.autoreload.on": False,
            "checker.on": False,
            "log.screen": False,
            "environment": "production",
        }
    )
    install(config)
    try:
        cherrypy.engine.start()
    except Exception as exc:  # noqa: BLE001 - e.g. the port is taken: CherryPy has logged why
        raise OSError(f"HTTP server did not start on {config.host}:{config.port}: {exc}") from exc


def stop_server() -> None:
    """Stop accepting requests and let the running ones finish."""
    cherrypy.engine.exit()
