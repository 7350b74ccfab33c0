"""Reading a request body: the declared type, the size limit, the deadline."""

from __future__ import annotations

import cherrypy
from cheroot.errors import MaxSizeExceeded

import models

from .errors import RequestTimeout, UnsupportedMediaType

JSON_MEDIA_TYPES = ("application/json",)


def read_json_body(max_body_bytes: int) -> bytes:
    """The body of a request declared as JSON, read up to the limit.

    A body needs ``Content-Type: application/json`` (or a ``+json`` type): a
    browser sends a cross-site ``text/plain`` or untyped body without asking
    first, never a JSON one. Reads at most the limit (+1 byte to detect
    excess), never the whole of a large body. Raises ``UnsupportedMediaType``,
    ``PayloadTooLarge``, ``RequestTimeout`` or ``InvalidInput``; after a body
    that was not read to its end, the connection is closed (web/framing.py).
    """
    request = cherrypy.serving.request
    content_type = request.headers.get("Content-Type", "")
    media_type = content_type.partition(";")[0].strip().lower()
    length = request.headers.get("Content-Length")
    has_body = "Transfer-Encoding" in request.headers or (length is not None and length != "0")
    if has_body and not media_type:
        raise UnsupportedMediaType("Content-Type must be application/json; none was given")
    if media_type and media_type not in JSON_MEDIA_TYPES and not media_type.endswith("+json"):
        raise UnsupportedMediaType("Content-Type must be application/json")
    too_large = models.PayloadTooLarge(f"request body over {max_body_bytes} bytes")
    if length is not None:
        if not length.isascii() or not length.isdigit():
            raise models.InvalidInput("invalid Content-Length")
        if int(length) > max_body_bytes:
            raise too_large
    try:
        body = request.rfile.read(max_body_bytes + 1)
    except TimeoutError as exc:
        raise RequestTimeout("the request body was not received in time") from exc
    except MaxSizeExceeded as exc:
        raise too_large from exc
    except (OSError, ValueError) as exc:
        raise models.InvalidInput(f"request body could not be read: {exc}") from exc
    if len(body) > max_body_bytes:
        raise too_large
    return body
