"""The dashboard: static HTML, CSS and JavaScript shipped in the package (``web/dashboard/``).

The pages are plain files with no build step. In the browser they read the same JSON API
as curl does. Each file is one literal route in ``routes.py``, so a path the dashboard does
not have is the router's JSON 404 like any other. Files are read once, when the routes are
built: a missing file stops the service at start instead of failing a request later.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import PurePosixPath

import cherrypy

from .router import Query

FOLDER = "dashboard"  # beside this module; installed as package data (setup.py)
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Everything from the service itself and nothing else: no inline script or style, no
# other origin, and no framing by another site (the pages have cancel and pause buttons).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
# The browser revalidates every time, so a new release is never half-cached; the ETag
# makes that revalidation a body-less 304.
CACHE_CONTROL = "no-cache"


class StaticFile:
    """One file of the dashboard: a GET route's handler, called in a request thread."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.body = resources.files(__package__).joinpath(FOLDER, name).read_bytes()
        self.content_type = CONTENT_TYPES[PurePosixPath(name).suffix]
        self.etag = f'"{hashlib.sha256(self.body).hexdigest()[:20]}"'

    def __call__(self, query: Query) -> bytes:
        request = cherrypy.serving.request
        response = cherrypy.serving.response
        headers = response.headers
        headers["Content-Type"] = self.content_type
        headers["Cache-Control"] = CACHE_CONTROL
        headers["ETag"] = self.etag
        headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "no-referrer"
        if self._matches(request.headers.get("If-None-Match", "")):
            response.status = 304
            return b""
        response.status = 200
        return self.body

    def _matches(self, if_none_match: str) -> bool:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return self.etag in tags or "*" in tags


class DashboardResource:
    """The dashboard's files, each read once; ``file(name)`` is the handler of its route."""

    def __init__(self) -> None:
        self._files: dict[str, StaticFile] = {}

    def file(self, name: str) -> StaticFile:
        if name not in self._files:
            self._files[name] = StaticFile(name)
        return self._files[name]
