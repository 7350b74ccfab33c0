"""Requests so malformed that the HTTP server answers them itself still get JSON errors."""

from __future__ import annotations

import socket

import orjson
import pytest

pytestmark = pytest.mark.system


def raw_exchange(port: int, request: bytes) -> tuple[bytes, dict[str, str], bytes]:
    """Send raw bytes; return the status line, headers and body of the reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.split(b"\r\n")
    headers = {}
    for line in lines:
        key, _, value = line.decode("latin-1").partition(":")
        headers[key.strip().lower()] = value.strip()
    return status, headers, body


MALFORMED = [
    (b"POST /tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n", "Content-Length"),
    (b"GARBAGE\r\n\r\n", "Request-Line"),
    (b"GET /tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nNo colon here\r\n\r\n", "header"),
]


@pytest.mark.parametrize(("request_bytes", "message"), MALFORMED)
def test_malformed_requests_get_a_json_400(service, request_bytes, message):
    status, headers, body = raw_exchange(service.port, request_bytes)
    assert status.startswith(b"HTTP/1.1 400")
    assert headers["content-type"] == "application/json"
    error = orjson.loads(body)["error"]
    assert message.lower() in error.lower()


def test_the_service_still_serves_right_after_malformed_requests(service):
    # Given: every kind of malformed request, each answered 400
    for request_bytes, _ in MALFORMED:
        assert raw_exchange(service.port, request_bytes)[0].startswith(b"HTTP/1.1 400")
    # When: a well-formed request follows
    status, headers, body = raw_exchange(
        service.port,
        b"GET /tasks?limit=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    # Then: it is served, and none of them stored a task
    assert status.startswith(b"HTTP/1.1 200")
    assert orjson.loads(body)["count"] == 0
