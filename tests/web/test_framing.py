"""Bodies as the connection frames them: ``Expect: 100-continue`` answered only when the
body is wanted, and a body the handler does not read never read as the next request.

One service (``--max-body 1024``) serves the module; the module fails at teardown if
it died, logged a traceback, or stored a task whose action does not start with good-.
"""

from __future__ import annotations

import socket

import orjson
import pytest

pytestmark = pytest.mark.system

READ_TIMEOUT_SECONDS = 10.0
UNKNOWN_ID = "0b9f5c4e-8a43-4c59-9a3e-5d1f2b8f0c11"


class RawConnection:
    """One TCP connection on which a test writes bytes and reads whole answers."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT_SECONDS)
        self._buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self._buffer += chunk
        return bool(chunk)

    def answer(self) -> tuple[int, dict[str, str], bytes]:
        """The next answer: status, headers (lower-case names), body."""
        while b"\r\n\r\n" not in self._buffer:
            assert self._fill(), f"closed before an answer; got {self._buffer!r}"
        head, _, self._buffer = self._buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self._buffer) < length:
            assert self._fill(), "closed in the middle of an answer"
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        return int(lines[0].split()[1]), headers, body

    def closed_by_server(self) -> bool:
        """True if the server closes the connection without sending anything more."""
        try:
            while self._fill():
                pass
        except ConnectionResetError:
            pass
        return self._buffer == b""

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def connect(service):
    opened: list[RawConnection] = []

    def open_one() -> RawConnection:
        opened.append(RawConnection(service.port))
        return opened[-1]

    yield open_one
    for connection in opened:
        connection.close()


def head(method: str, path: str, *lines: str) -> bytes:
    return (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(f"{x}\r\n" for x in lines)
    ).encode() + b"\r\n"


def test_expect_100_continue_over_the_limit_gets_413_and_no_continue(connect):
    # Given: a client that announces 2 KiB (over --max-body 1024) and waits for 100 Continue
    connection = connect()
    connection.send(
        head(
            "POST",
            "/tasks",
            "Content-Type: application/json",
            "Content-Length: 2048",
            "Expect: 100-continue",
        )
    )
    # Then: the first answer is the 413 itself, in JSON, and the connection closes
    status, headers, body = connection.answer()
    assert status == 413, body
    assert headers["content-type"] == "application/json"
    assert orjson.loads(body) == {"error": "request body over 1024 bytes"}
    assert connection.closed_by_server()


def test_expect_100_continue_on_a_refused_type_gets_415_and_no_continue(connect):
    connection = connect()
    connection.send(
        head(
            "POST",
            "/tasks",
            "Content-Type: text/plain",
            "Content-Length: 20",
            "Expect: 100-continue",
        )
    )
    status, headers, body = connection.answer()
    assert status == 415, body
    assert headers["content-type"] == "application/json"
    # The client was never invited to send the body: the connection is not reused
    assert headers["connection"].lower() == "close"


def test_expect_100_continue_on_a_good_request_continues_then_accepts(connect):
    task = orjson.dumps({"action": "good-expect"})
    connection = connect()
    connection.send(
        head(
            "POST",
            "/tasks",
            "Content-Type: application/json",
            f"Content-Length: {len(task)}",
            "Expect: 100-continue",
        )
    )
    assert connection.answer()[0] == 100
    connection.send(task)
    status, _, body = connection.answer()
    assert status == 202, body


@pytest.mark.parametrize(
    "framing",
    [
        pytest.param(("Content-Length: 11",), id="content-length"),
        pytest.param(("Transfer-Encoding: chunked",), id="chunked"),
    ],
)
def test_a_body_no_handler_reads_is_skipped_and_the_connection_serves_the_next_request(
    connect, framing
):
    # Given: a POST whose handler never reads a body (cancel), sent with one anyway
    body = b"hello world"
    if framing == ("Transfer-Encoding: chunked",):
        body = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    connection = connect()
    connection.send(head("POST", f"/tasks/{UNKNOWN_ID}/cancel", *framing) + body)
    # When: another request follows on the same connection
    connection.send(head("GET", "/tasks?limit=1"))
    # Then: the cancel is answered, and then the GET (the body was not read as a request)
    assert connection.answer()[0] == 404
    status, _, listing = connection.answer()
    assert status == 200, listing
    assert "tasks" in orjson.loads(listing)


def test_a_chunked_body_with_a_bad_chunk_size_on_a_bodiless_route_closes_the_connection(
    connect,
):
    # A request hidden after a negative chunk size must never be served, whoever reads it
    connection = connect()
    connection.send(
        head("POST", f"/tasks/{UNKNOWN_ID}/cancel", "Transfer-Encoding: chunked")
        + b"-5\r\n"
        + head("GET", "/tasks?limit=1")
    )
    assert connection.answer()[0] == 404
    assert connection.closed_by_server()


@pytest.mark.parametrize(
    "length",
    ["+5", "5_0", "0x5", "5, 5"],
    ids=["plus", "underscore", "hex", "twice"],
)
def test_a_content_length_that_is_not_plain_digits_is_a_json_400_and_closes(connect, length):
    connection = connect()
    connection.send(
        head("POST", "/tasks", "Content-Type: application/json", f"Content-Length: {length}")
        + b'{"action": "bad"}'
    )
    status, headers, body = connection.answer()
    assert status == 400, body
    assert headers["content-type"] == "application/json"
    assert "content-length" in orjson.loads(body)["error"].lower()
    assert connection.closed_by_server()


def test_requests_pipelined_in_one_write_are_answered_in_order(connect):
    # Given: a POST and two GETs written at once, so the later heads are in the server's
    # buffer when the first answer is sent (the connection goes straight to a request
    # thread again, without waiting in the selector)
    body = orjson.dumps({"action": "good-pipelined", "data": {"n": 1}})
    connection = connect()
    connection.send(
        head("POST", "/tasks", "Content-Type: application/json", f"Content-Length: {len(body)}")
        + body
        + head("GET", "/tasks?limit=1")
        + head("GET", "/tasks/not-a-task-id")
    )
    # Then: each is answered, in the order sent
    status, _, accepted = connection.answer()
    assert status == 202, accepted
    assert connection.answer()[0] == 200
    assert connection.answer()[0] == 404


def test_one_kept_alive_connection_serves_request_after_request(connect):
    # Given: one connection; each request is sent only after the previous answer, so the
    # connection waits in the selector between requests
    connection = connect()
    for n in range(50):
        body = orjson.dumps({"action": "good-kept-alive", "data": {"n": n}})
        connection.send(
            head("POST", "/tasks", "Content-Type: application/json", f"Content-Length: {len(body)}")
            + body
        )
        status, headers, accepted = connection.answer()
        # Then: every one is accepted on the same connection
        assert status == 202, accepted
        assert headers.get("connection") != "close"
