"""The request as the HTTP server parses it: JSON bodies for the errors it answers itself,
and bodies framed strictly (``framing.py``).

Cheroot replies to a malformed request line, malformed headers or a bad
Content-Length on its own, as text/plain. ``JsonErrorRequest`` gives the same
status with a ``{"error": ...}`` body, so every error the service sends is JSON.

It also changes three things about bodies (written against cheroot 11.1):

- ``Expect: 100-continue`` is answered only when the application starts
  reading the body. Cheroot sends ``100 Continue`` as soon as the headers are
  parsed, so a client whose body is refused (413, 401, …) was first invited to
  send it. A Content-Length over the server's ``max_request_body_size`` gets
  its 413 from cheroot before that point, without ``100 Continue``.
- A chunked body is read by ``framing.ChunkedBody``, strictly.
- After the response, a body not read to its end is drained if small, and
  otherwise the connection is closed (as it is after any framing error), so
  its leftovers are never read as the next request.
"""

from __future__ import annotations

import orjson
from cheroot import errors
from cheroot.server import HeaderReader, HTTPRequest, KnownLengthRFile

from .framing import BodyStream, ChunkedBody

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
# A chunked body may spend on chunk headers up to three times its data (one-byte
# chunks); past that the body is refused without reading the rest.
CHUNKED_READ_FACTOR = 4


class _ExpectSetAside(HeaderReader):
    """Reads headers as cheroot does, but takes ``Expect`` out of them: cheroot would
    answer ``100 Continue`` at once. ``JsonErrorRequest`` answers it when the body is read."""

    def __call__(self, rfile, hdict=None):
        hdict = super().__call__(rfile, hdict)
        expect = hdict.pop(b"Expect", None)
        if expect is not None:
            hdict[_EXPECT_KEY] = expect
        return hdict


# A key no header can have (header names hold no spaces), so CherryPy never sees it.
_EXPECT_KEY = b"expect set aside"


class JsonErrorRequest(HTTPRequest):
    header_reader = _ExpectSetAside()

    def __init__(self, server, conn, proxy_mode=False, strict_mode=True):
        super().__init__(server, conn, proxy_mode, strict_mode)
        self.expects_continue = False
        self.body_stream: BodyStream | None = None

    def read_request_headers(self):
        if not super().read_request_headers():
            return False
        self.expects_continue = (
            self.inheaders.pop(_EXPECT_KEY, b"").strip().lower() == b"100-continue"
        )
        length = self.inheaders.get(b"Content-Length")
        if length is not None and not (length.isdigit() and length.isascii()):
            # int() would take "+5", " 5" or "5_0": a peer could then frame this
            # body differently from us.
            self.simple_response("400 Bad Request", "Malformed Content-Length Header.")
            self.close_connection = True
            return False
        return True

    def respond(self):
        """As ``HTTPRequest.respond``, with the body read through a ``BodyStream``."""
        limit = self.server.max_request_body_size
        send_continue = self._send_continue if self.expects_continue else None
        if self.chunked_read:
            body = ChunkedBody(self.conn.rfile, CHUNKED_READ_FACTOR * (limit + 1) if limit else 0)
        else:
            body = KnownLengthRFile(self.conn.rfile, int(self.inheaders.get(b"Content-Length", 0)))
        self.body_stream = self.rfile = BodyStream(body, self.chunked_read, send_continue)
        self.server.gateway(self).respond()
        self.ready and self.ensure_headers_sent()
        if self.chunked_write:
            self.conn.wfile.write(b"0\r\n\r\n")

    def _send_continue(self) -> None:
        try:
            self.conn.wfile.write(CONTINUE)
        except OSError as ex:
            if ex.args and ex.args[0] not in errors.socket_errors_to_ignore:
                raise

    def send_headers(self):
        """As ``HTTPRequest.send_headers``, but the connection closes when the body was not
        read to its end (and cannot be drained), or when the application set
        ``Connection: close`` (cheroot only closes by itself after a 413)."""
        if any(
            key.lower() == b"connection" and value.strip().lower() == b"close"
            for key, value in self.outheaders
        ):
            self.close_connection = True
        if not self.close_connection and self.body_stream is not None:
            if not self.body_stream.finish():
                self.close_connection = True
                self.outheaders.append((b"Connection", b"close"))
        super().send_headers()

    def simple_response(self, status, msg=""):
        """As ``HTTPRequest.simple_response``, with a JSON body."""
        status = str(status)
        text = msg.decode("ISO-8859-1") if isinstance(msg, bytes) else str(msg)
        if status.startswith("413") and "entity sent" in text:
            text = f"request body over {self.server.max_request_body_size} bytes"
        body = orjson.dumps({"error": (text or status[4:]).strip()})
        head = [
            f"{self.server.protocol} {status}\r\n",
            f"Content-Length: {len(body)}\r\n",
            "Content-Type: application/json\r\n",
        ]
        if status[:3] in {"413", "414", "400", "408"}:
            # After any of these the stream is at no known request boundary.
            self.close_connection = True
            if self.response_protocol == "HTTP/1.1":
                head.append("Connection: close\r\n")
            elif status[:3] in {"413", "414"}:
                head[0] = f"{self.server.protocol} 400 Bad Request\r\n"
        head.append("\r\n")
        try:
            self.conn.wfile.write("".join(head).encode("ISO-8859-1") + body)
        except OSError as ex:
            if ex.args and ex.args[0] not in errors.socket_errors_to_ignore:
                raise


__all__ = ["JsonErrorRequest"]
