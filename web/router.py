"""Routing as a table: (method, path pattern) → handler.

``Router`` is CherryPy's ``request.dispatch`` for the whole application. A
pattern is a path whose segments are literal or ``{name}`` (one segment,
passed to the handler by name). A request matches a route's path or gets a
JSON 404; its path matched but not its method gets a JSON 405 with
``Allow``. A GET route answers HEAD too. A trailing slash is ignored.

A handler is called as ``handler(query, **path_params)`` and returns the
body as bytes; ``query`` maps each query parameter to the list of its
values, decoded as UTF-8 (a query string that is not is a 400).

Each route names the least ``Role`` that may call it and its ``Exposure``: who
may call it without a token at all. The ``guard`` given to the router (the
``access.Gate``) checks both before the handler runs, and may answer instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qs

import cherrypy

from . import http_metrics
from .responses import json_error

Handler = Callable[..., bytes]
Query = dict[str, list[str]]


class Role(StrEnum):
    """What a caller may do; each role includes the ones before it."""

    READ = "read"  # GET anything
    WRITE = "write"  # read, and queue tasks
    ADMIN = "admin"  # everything: cancel, retry, pause, schedules

    def covers(self, needed: Role) -> bool:
        """Whether a caller with this role may call a route that needs ``needed``."""
        return _ROLE_ORDER.index(self) >= _ROLE_ORDER.index(needed)


_ROLE_ORDER = (Role.READ, Role.WRITE, Role.ADMIN)


class Exposure(StrEnum):
    """Who may call a route without a token."""

    TOKEN = "token"  # nobody: a caller of the route's role (the default)
    PUBLIC = "public"  # anyone (health checks: /healthz, /readyz)
    METRICS = "metrics"  # anyone under --metrics-public, else like TOKEN (/metrics)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    role: Role = Role.READ  # the least role that may call it
    params: tuple[str, ...] = ()  # the query parameters it knows; any other is a 400
    exposure: Exposure = Exposure.TOKEN


# The guard: (request, route or None, the path's routes by method or None) → None to go
# on, or a handler that answers instead.
Guard = Callable[[Any, "Route | None", "dict[str, Route] | None"], "Handler | None"]


class Router:
    """Finds the route of each request; written for speed (the dispatcher runs on every one)."""

    def __init__(self, routes: list[Route], guard: Guard | None = None) -> None:
        self._guard = guard
        # Literal paths are one dict lookup; patterns are tried in table order.
        self._literal: dict[tuple[str, ...], dict[str, Route]] = {}
        self._patterns: list[tuple[tuple[str, ...], dict[str, Route]]] = []
        for route in routes:
            segments = _segments(route.path)
            if any(segment.startswith("{") for segment in segments):
                methods = next((m for s, m in self._patterns if s == segments), None)
                if methods is None:
                    methods = {}
                    self._patterns.append((segments, methods))
            else:
                methods = self._literal.setdefault(segments, {})
            methods[route.method] = route
            if route.method == "GET":
                methods.setdefault("HEAD", route)

    def __call__(self, path_info: str) -> None:
        """CherryPy's dispatch hook: set the request's handler and config.

        The config is the app's own, without CherryPy's global one: that holds
        the server's settings and turns on tools (encode, trailing_slash,
        log_tracebacks) this app does without; handlers return encoded JSON,
        a trailing slash is ignored here, and a bug's 500 logs its traceback
        once, in ``errors.json_unexpected_error``.
        """
        request = cherrypy.serving.request
        request.config = request.app.config.get("/", {})
        segments = _segments(path_info)
        params: dict[str, str] = {}
        methods = self._literal.get(segments)
        if methods is None:
            for pattern, candidate in self._patterns:
                params = _match(pattern, segments)
                if params is not None:
                    methods = candidate
                    break
        route = None if methods is None else methods.get(request.method)
        if self._guard is not None:
            answer = self._guard(request, route, methods)
            if answer is not None:
                request.handler = _Counted(
                    answer, http_metrics.UNMATCHED if route is None else route.path
                )
                return
        if methods is None:
            request.handler = _Counted(_not_found, http_metrics.UNMATCHED)
            return
        if route is None:
            request.handler = _Counted(_MethodNotAllowed(methods), http_metrics.UNMATCHED)
            return
        request.route = route
        request.handler = _Call(route, params)

    def routes(self) -> list[tuple[str, str]]:
        """(method, path) of every route, for the docs and their tests."""
        table = [*self._literal.items(), *self._patterns]
        return [
            (method, "/" + "/".join(segments))
            for segments, methods in table
            for method in methods
            if method != "HEAD"
        ]


def _segments(path: str) -> tuple[str, ...]:
    if path.endswith("/") and path != "/":
        path = path[:-1]
    return tuple(path.split("/")[1:]) if path != "/" else ()


def _match(pattern: tuple[str, ...], segments: tuple[str, ...]) -> dict[str, str] | None:
    if len(pattern) != len(segments):
        return None
    params = {}
    for expected, actual in zip(pattern, segments, strict=True):
        if expected.startswith("{"):
            if not actual:
                return None
            params[expected[1:-1]] = actual
        elif expected != actual:
            return None
    return params


class _Call:
    __slots__ = ("_route", "_params")

    def __init__(self, route: Route, params: dict[str, str]) -> None:
        self._route = route
        self._params = params

    def __call__(self) -> bytes:
        started = time.perf_counter()
        method = cherrypy.serving.request.method
        try:
            body = self._answer()
        except BaseException:
            http_metrics.observe(method, self._route.path, started, code="500")
            raise
        http_metrics.observe(method, self._route.path, started)
        return body

    def _answer(self) -> bytes:
        # The query string as sent, percent escapes decoded here as UTF-8. (CherryPy
        # parses it too, as Latin-1, which never fails: it never answers for us.)
        try:
            query = parse_qs(
                cherrypy.serving.request.query_string, keep_blank_values=True, errors="strict"
            )
        except UnicodeDecodeError:
            return json_error(400, "the query string is not valid UTF-8")
        for name in query:
            if name not in self._route.params:
                return json_error(400, f"unknown query parameter {name!r}")
        return self._route.handler(query, **self._params)


class _Counted:
    """An answer other than the route's own (the guard's refusal, 404, 405), counted like
    any other answer under ``route``."""

    __slots__ = ("_answer", "_route")

    def __init__(self, answer, route: str) -> None:
        self._answer = answer
        self._route = route

    def __call__(self) -> bytes:
        started = time.perf_counter()
        body = self._answer()
        http_metrics.observe(cherrypy.serving.request.method, self._route, started)
        return body


class _MethodNotAllowed:
    __slots__ = ("_allow",)

    def __init__(self, methods: dict[str, Route]) -> None:
        self._allow = ", ".join(sorted(methods))

    def __call__(self) -> bytes:
        cherrypy.serving.response.headers["Allow"] = self._allow
        return json_error(405, "method not allowed")


def _not_found() -> bytes:
    return json_error(404, "not found")
