"""Reading a request body: the declared type, the size limit, chunked framing."""

from __future__ import annotations

import cherrypy
from cheroot.errors import MaxSizeExceeded
from cheroot.server import ChunkedRFile

import models

from .errors import UnsupportedMediaType

# A chunked body may spend on chunk headers up to three times its data (one-byte
# chunks); past that the body is refused without reading the rest.
CHUNKED_READ_FACTOR = 4
JSON_MEDIA_TYPES = ("application/json",)


def read_json_body(max_body_bytes: int) -> bytes:
    """The body of a request declared as JSON (or undeclared), read up to the limit.

    Reads at most the limit (+1 byte to detect excess), never the whole of
    a large body. Raises ``UnsupportedMediaType``, ``PayloadTooLarge`` or
    ``InvalidInput``; after a body that was not read to its end, the
    connection is marked to close.
    """
    request = cherrypy.serving.request
    content_type = request.headers.get("Content-Type", "")
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type and media_type not in JSON_MEDIA_TYPES and not media_type.endswith("+json"):
        raise UnsupportedMediaType("Content-Type must be application/json")
    too_large = models.PayloadTooLarge(f"request body over {max_body_bytes} bytes")
    length = request.headers.get("Content-Length")
    if length is not None:
        if not length.isascii() or not length.isdigit():
            raise models.InvalidInput("invalid Content-Length")
        if int(length) > max_body_bytes:
            raise too_large
    rfile = request.rfile
    if isinstance(rfile, ChunkedRFile):
        # A chunk is read whole before any of it is returned: bound what the
        # chunk headers may announce, or a chunk "1 GB long" would be waited for.
        rfile.maxlen = CHUNKED_READ_FACTOR * (max_body_bytes + 1)
    try:
        body = rfile.read(max_body_bytes + 1)
    except (MaxSizeExceeded, OSError, ValueError) as exc:
        # The stream is no longer at a request boundary: do not reuse it.
        cherrypy.serving.response.headers["Connection"] = "close"
        if isinstance(exc, MaxSizeExceeded) or "Too Large" in str(exc):
            raise too_large from exc
        raise models.InvalidInput(f"request body could not be read: {exc}") from exc
    if len(body) > max_body_bytes:
        raise too_large
    return body
