"""Every request's admission, in order: its ``Host``, its ``Origin``, its token, its role.

``Gate`` is the router's guard (``Router(routes, guard=...)``): it runs on every
request once the route is known, and either lets it through (recording the
token's name for ``caller()``) or answers it with a JSON error. Also here: what
the service refuses to start with (``exposure_problem``).
"""

from __future__ import annotations

import socket

import cherrypy

from .auth import Authenticator, Denied, TokenTable, is_loopback
from .browser import BrowserPolicy
from .config import WebConfig
from .responses import json_error
from .router import Exposure, Route


def is_loopback_host(host: str) -> bool | None:
    """Whether every address ``host`` names is a loopback one; None if it names none
    (the server's own start reports that)."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return None
    return bool(infos) and all(is_loopback(info[4][0]) for info in infos)


def exposure_problem(config: WebConfig) -> str | None:
    """Why the service must not start with this configuration, or None."""
    if config.tokens is not None and config.insecure_no_auth:
        return "--insecure-no-auth and --token-file contradict each other: give one of them"
    if config.tokens is None and not config.insecure_no_auth:
        if is_loopback_host(config.host) is False:
            return (
                f"refusing to serve on --host {config.host} without --token-file: anyone who "
                "can reach the port could read, queue and cancel tasks. Give --token-file PATH "
                "(run.py token NAME ROLE makes a token), listen on 127.0.0.1, or pass "
                "--insecure-no-auth to serve everyone anyway"
            )
    return None


def exposure_warning(config: WebConfig) -> str | None:
    """What to warn about at start, or None."""
    if config.insecure_no_auth:
        return (
            f"--insecure-no-auth: serving {config.host}:{config.port} without authentication; "
            "anyone who can reach the port can read, queue, cancel and retry tasks"
        )
    return None


class _Answer:
    """A handler that answers with a fixed status, body and headers."""

    __slots__ = ("_status", "_message", "_headers")

    def __init__(self, status: int, message: str | None, headers=()) -> None:
        self._status = status
        self._message = message
        self._headers = tuple(headers)

    def __call__(self) -> bytes:
        response = cherrypy.serving.response
        for key, value in self._headers:
            response.headers[key] = value
        if self._message is None:
            response.status = self._status
            response.headers.pop("Content-Type", None)
            return b""
        return json_error(self._status, self._message)


class Gate:
    def __init__(self, config: WebConfig, tokens: TokenTable | None = None) -> None:
        self._authenticator = Authenticator(
            tokens if tokens is not None else config.tokens, config.insecure_no_auth
        )
        check_host = is_loopback_host(config.host) is True
        self._browser = BrowserPolicy(
            check_host, (*config.allow_hosts, config.host), config.allow_origins
        )
        self._metrics_public = config.metrics_public

    def __call__(self, request, route: Route | None, methods: dict | None):
        """None to let the request go on to its route (or to the router's 404 and 405),
        or the handler that answers it instead."""
        response = cherrypy.serving.response
        response.headers["X-Content-Type-Options"] = "nosniff"
        headers = request.headers
        host = headers.get("Host")
        refusal = self._browser.check_host(host, tuple(request.protocol) >= (1, 1))
        if refusal is not None:
            return _Answer(refusal.status, refusal.message)
        origin = headers.get("Origin")
        if origin is None:
            refusal = self._browser.check_fetch_site(headers, request.method)
            if refusal is not None:
                return _Answer(refusal.status, refusal.message)
        else:
            allowed, listed = self._browser.check_origin(origin, request.scheme, host)
            if not allowed:
                return _Answer(
                    403, "requests from this web origin are not allowed (see --allow-origin)"
                )
            if listed:
                for key, value in self._browser.cors_headers(origin):
                    response.headers[key] = value
            if request.method == "OPTIONS" and "Access-Control-Request-Method" in headers:
                allow = ", ".join(sorted(m for m in (methods or {}) if m != "HEAD"))
                return _Answer(204, None, self._browser.preflight_headers(allow or "GET, POST"))
        if route is not None and self._is_open(route):
            return None
        try:
            identity = self._authenticator.identify(headers.get("Authorization"), request.remote.ip)
            if route is not None:
                self._authenticator.authorize(identity, route.role)
        except Denied as denied:
            return _Answer(denied.status, denied.message, denied.headers)
        request.token_name = identity.name
        return None

    def reload_tokens(self) -> TokenTable | None:
        """``Authenticator.reload_tokens``: the token file, read again (run.py on SIGHUP)."""
        return self._authenticator.reload_tokens()

    def _is_open(self, route: Route) -> bool:
        if route.exposure == Exposure.PUBLIC:
            return True
        return route.exposure == Exposure.METRICS and self._metrics_public


__all__ = ["Gate", "exposure_problem", "exposure_warning", "is_loopback_host"]
