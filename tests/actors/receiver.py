"""A webhook receiver for the tests, on 127.0.0.1 only: it checks each signature as a
receiver would, and answers what the test scripts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import threading
from collections.abc import Callable
from dataclasses import dataclass

WAIT_SECONDS = 10.0


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Standard Webhooks' check, as the README shows it."""
    if not {"webhook-id", "webhook-timestamp", "webhook-signature"} <= set(headers):
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(expected, part.partition(",")[2])
        for part in headers["webhook-signature"].split()
    )


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    signed: bool


class Receiver:
    """``answer(n)`` gives the status (and body) for the n-th request (0-based)."""

    def __init__(
        self, secret: str, answer: Callable[[int], tuple[int, bytes]] = lambda n: (200, b"ok")
    ) -> None:
        self.secret = secret
        self.answer = answer
        self.received: list[Received] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the standard library's name
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                headers = {key.lower(): value for key, value in self.headers.items()}
                with receiver._changed:
                    number = len(receiver.received)
                    signed = verify(receiver.secret, headers, body)
                    receiver.received.append(Received(self.path, headers, body, signed))
                    receiver._changed.notify_all()
                status, payload = receiver.answer(number)
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait(self, count: int, timeout: float = WAIT_SECONDS) -> list[Received]:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.received) >= count, timeout):
                raise AssertionError(
                    f"the receiver got {len(self.received)} of {count} requests in {timeout}s"
                )
            return list(self.received)
