"""Slow and idle clients cannot stop the service (issue 12, item 1).

Every connection here goes to 127.0.0.1; "other clients" are other loopback
source addresses (127.0.0.2 and up). Each test is bounded in connections and time.
The latency bound asserted here is deliberately loose (``GENEROUS_P99_MS``, five
times the issue's 100 ms) so that a 2-core machine busy with other test runs does not
fail it; the figures measured against the 100 ms requirement are in BENCHMARKS.md
("Slow and idle clients").
"""

from __future__ import annotations

import http.client
import socket

import orjson
import pytest

from bench.slow_clients import Attack, probe
from tests.web.client import wait_for

pytestmark = pytest.mark.system

ATTACK_SECONDS = 15.0
PROBE_INTERVAL_SECONDS = 0.05
GENEROUS_P99_MS = 500.0  # the issue asks for 100 ms; see the module docstring


def test_200_idle_and_slow_connections_leave_posts_answered_promptly(sqlite_url, start_service):
    # Given: the service with its default 16 threads, and 200 connections held open from
    # eight addresses: 100 that send nothing, 100 that send a header line every 5 s
    service = start_service(sqlite_url, "--simulated-work", "0")
    with Attack(service.port, idle=100, slow=100) as attack:
        assert attack.all_open.wait(30), attack.stats
        # When: a legitimate client POSTs a task every 50 ms for 15 s, each on a new connection
        result = probe(service.port, ATTACK_SECONDS, PROBE_INTERVAL_SECONDS)
        stats = attack.stats
    # Then: every POST was accepted, and promptly
    assert not result.failures, (result.summary(), result.failures[:5])
    assert result.answered >= 100, result.summary()
    assert result.percentile(0.99) <= GENEROUS_P99_MS, result.summary()
    # And: the attack really held its 200 connections all along (closed ones were reopened)
    assert stats.most_open == 200 and stats.refused == 0, stats


def test_forty_silent_connections_do_not_hold_the_two_threads(sqlite_url, start_service):
    # Given: only two request threads, and forty connections that send nothing
    service = start_service(sqlite_url, "--simulated-work", "0", "--threads", "2")
    with Attack(service.port, idle=40, slow=0) as attack:
        assert attack.all_open.wait(30), attack.stats
        # Then: POSTs are still answered (cheroot's threads would each wait 10 s per connection)
        result = probe(service.port, 2.0, 0.1)
    assert not result.failures and result.answered >= 10, result.summary()


def test_a_request_trickling_in_gets_408_at_its_deadline(sqlite_url, start_service):
    # Given: a 2-second request deadline
    service = start_service(sqlite_url, "--request-timeout", "2")
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as sock:
        # When: a client sends a header line every 0.2 s, for as long as it is let
        sock.sendall(b"POST /tasks HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        answer = b""
        sock.settimeout(0.2)
        for line in range(100):  # 20 s at most: ten times the deadline
            try:
                sock.sendall(b"X-Slow-%d: 1\r\n" % line)
                answer = sock.recv(65536)
                break
            except TimeoutError:
                continue
            except OSError:
                break
    # Then: it got a JSON 408 (each line arrived well within any per-read timeout)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer
    assert orjson.loads(body) == {"error": "the request was not received within 2 s"}


def _recv_or_nothing(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:  # reset or timed out: nothing more comes
        return b""


def test_a_body_trickling_in_gets_408_at_its_deadline(sqlite_url, start_service):
    service = start_service(sqlite_url, "--request-timeout", "2")
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as sock:
        # A whole head, then a body of 100 bytes one byte every 0.2 s
        sock.sendall(
            b"POST /tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n"
        )
        answer = b""
        sock.settimeout(0.2)
        for _ in range(100):
            try:
                sock.sendall(b" ")
                answer += sock.recv(65536)
                if b"\r\n\r\n" in answer:
                    break
            except TimeoutError:
                continue
            except OSError:
                break
        # The body may follow the head in a segment of its own: read to the close
        sock.settimeout(5)
        while chunk := _recv_or_nothing(sock):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b'"error"' in answer and b"Connection: close" in answer, answer


def test_connections_over_a_clients_cap_get_503_and_other_clients_are_served(
    sqlite_url, start_service
):
    # Given: at most 4 connections per client address
    service = start_service(sqlite_url, "--simulated-work", "0", "--max-client-connections", "4")
    held = []
    try:
        for _ in range(4):
            sock = socket.socket()
            sock.bind(("127.0.0.7", 0))
            sock.connect(("127.0.0.1", service.port))
            held.append(sock)
        # When: that client opens a fifth
        fifth = socket.socket()
        fifth.bind(("127.0.0.7", 0))
        fifth.settimeout(10)
        fifth.connect(("127.0.0.1", service.port))
        answer = b""
        while chunk := fifth.recv(65536):
            answer += chunk
        fifth.close()
        # Then: it is answered 503 in JSON, and closed
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503 "), answer
        assert orjson.loads(body) == {"error": "too many connections from this client"}
        # And: another client is served meanwhile
        assert not probe(service.port, 0.2, 0.1).failures
        # And: once one of its connections closes, the client may open another
        held.pop().close()

        def served_again() -> bool:
            connection = http.client.HTTPConnection(
                "127.0.0.1", service.port, timeout=5, source_address=("127.0.0.7", 0)
            )
            try:
                connection.request("GET", "/tasks?limit=1")
                return connection.getresponse().status == 200
            except (OSError, http.client.HTTPException):
                return False
            finally:
                connection.close()

        wait_for(served_again, message="a connection from 127.0.0.7 to be served again")
    finally:
        for sock in held:
            sock.close()


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server has closed ``sock`` (without sending anything)."""
    try:
        return sock.recv(1, socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def test_an_idle_connection_is_closed_after_the_idle_timeout(sqlite_url, start_service):
    service = start_service(sqlite_url, "--idle-timeout", "1")
    # A connection that never sends, and one kept alive after a request
    silent = socket.create_connection(("127.0.0.1", service.port), timeout=10)
    kept = http.client.HTTPConnection("127.0.0.1", service.port, timeout=10)
    try:
        kept.request("GET", "/tasks?limit=1")
        response = kept.getresponse()
        response.read()
        assert response.status == 200 and response.getheader("Connection") is None
        wait_for(lambda: closed_by_server(silent), message="the silent connection to close")
        wait_for(lambda: closed_by_server(kept.sock), message="the kept-alive one to close")
    finally:
        silent.close()
        kept.close()


def test_past_4096_connections_in_all_a_new_one_gets_503(sqlite_url, start_service):
    # Given: no cap per client, and 4,096 connections held open
    service = start_service(sqlite_url, "--max-client-connections", "0", "--idle-timeout", "120")
    held = []
    try:
        for _ in range(4096):
            held.append(socket.create_connection(("127.0.0.1", service.port), timeout=10))
        # When: one more connects
        extra = socket.create_connection(("127.0.0.1", service.port), timeout=10)
        answer = b""
        while chunk := extra.recv(65536):
            answer += chunk
        extra.close()
        # Then: it is answered 503 and closed
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503 "), answer
        assert orjson.loads(body) == {"error": "too many connections"}
        # And: once connections close, new ones are served again
        for sock in held[:10]:
            sock.close()
        del held[:10]
        wait_for(
            lambda: not probe(service.port, 0.01, 0.01).failures,
            message="a POST to be served again",
        )
    finally:
        for sock in held:
            sock.close()
