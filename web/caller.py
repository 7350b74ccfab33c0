"""Who is asking: recorded with every change made by hand (cancel, retry, pause)."""

from __future__ import annotations

import cherrypy


def caller() -> str:
    """The client as the request shows it: its address (and, once requests carry a
    token, the token's name)."""
    request = cherrypy.serving.request
    name = getattr(request, "token_name", None)
    address = request.remote.ip or "unknown"
    return f"{name}@{address}" if name else address
