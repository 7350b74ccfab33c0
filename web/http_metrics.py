"""What the HTTP side counts for Prometheus: requests by route and status, and their time."""

from __future__ import annotations

import time

import cherrypy
from prometheus_client import Counter, Histogram

from actors.metrics import COUNTING, labelled

UNMATCHED = "(unmatched)"  # the route label of a request no route matched
# The method label: a method outside these is counted as "other", so that made-up
# methods cannot add series without bound.
METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"))
OTHER_METHOD = "other"
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60)

REQUESTS = Counter(
    "taskqueue_http_requests",
    "HTTP requests answered, by method, route (its path pattern) and status code",
    ["method", "route", "code"],
)
DURATION = Histogram(
    "taskqueue_http_request_duration_seconds",
    "Time to answer an HTTP request, by route (its path pattern)",
    ["route"],
    buckets=REQUEST_BUCKETS,
)


def observe(method: str, route: str, started: float, code: str | None = None) -> None:
    """Count the current request, with its status as set (or ``code``)."""
    if not COUNTING.on:
        return
    if code is None:
        status = cherrypy.serving.response.status
        code = str(status).partition(" ")[0] if status else "200"
    method = method if method in METHODS else OTHER_METHOD
    labelled(REQUESTS, method, route, code).inc()
    labelled(DURATION, route).observe(time.perf_counter() - started)
