"""JSON bodies for the errors the HTTP server answers before CherryPy sees the request.

Cheroot replies to a malformed request line, malformed headers or a bad
Content-Length on its own, as text/plain. These classes give the same status
with a ``{"error": ...}`` body, so every error the service sends is JSON.
"""

from __future__ import annotations

import orjson
from cheroot import errors
from cheroot.server import HTTPConnection, HTTPRequest


class JsonErrorRequest(HTTPRequest):
    def send_headers(self):
        """As ``HTTPRequest.send_headers``, but a ``Connection: close`` the application
        set really closes the connection. Cheroot only closes by itself after a 413;
        after a 400 for a broken chunked body it would read the body's leftovers as
        the next request."""
        if any(
            key.lower() == b"connection" and value.strip().lower() == b"close"
            for key, value in self.outheaders
        ):
            self.close_connection = True
        super().send_headers()

    def simple_response(self, status, msg=""):
        """As ``HTTPRequest.simple_response``, with a JSON body."""
        status = str(status)
        text = msg.decode("ISO-8859-1") if isinstance(msg, bytes) else str(msg)
        body = orjson.dumps({"error": (text or status[4:]).strip()})
        head = [
            f"{self.server.protocol} {status}\r\n",
            f"Content-Length: {len(body)}\r\n",
            "Content-Type: application/json\r\n",
        ]
        if status[:3] in {"413", "414"}:
            self.close_connection = True
            if self.response_protocol == "HTTP/1.1":
                head.append("Connection: close\r\n")
            else:
                head[0] = f"{self.server.protocol} 400 Bad Request\r\n"
        head.append("\r\n")
        try:
            self.conn.wfile.write("".join(head).encode("ISO-8859-1") + body)
        except OSError as ex:
            if ex.args and ex.args[0] not in errors.socket_errors_to_ignore:
                raise


class JsonErrorConnection(HTTPConnection):
    RequestHandlerClass = JsonErrorRequest


def use_json_protocol_errors(httpserver) -> None:
    """Make a cheroot server answer its own protocol errors in JSON."""
    httpserver.ConnectionClass = JsonErrorConnection


__all__ = ["JsonErrorConnection", "JsonErrorRequest", "use_json_protocol_errors"]
