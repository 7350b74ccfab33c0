"""The selector thread that replaces cheroot's connection manager (see web/server.py):
it accepts connections, drives TLS handshakes, gathers each request's head without a
thread, answers what never completes, and caps connections per client and in all."""

from __future__ import annotations

import collections
import errno
import logging
import selectors
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cheroot.makefile import MakeFile

from .config import MAX_HEADER_BYTES, WebConfig
from .connection import Connection, head_complete, raw_response

if TYPE_CHECKING:
    from .server import Server

logger = logging.getLogger("taskqueue.web")

RECV_BYTES = 65536
ACCEPTS_PER_WAKE = 64  # connections accepted in one turn of the selector loop at most
LINGER_SECONDS = 1.0  # how long a refused connection is read (and ignored) before closing
REFUSAL_LOG_INTERVAL_SECONDS = 10.0  # refused connections are logged at most this often
ACCEPT_PAUSE_SECONDS = 0.5  # how long accepting pauses when no file descriptor is left


@dataclass
class _Handshake:
    """A TLS connection whose handshake is under way, driven by the selector."""

    tls: ssl.SSLSocket
    address: Any
    deadline: float
    release: Any


@dataclass
class _Closing:
    """A refused connection: its answer is sent; what it sends is read and ignored until
    it closes or ``deadline``, so that closing does not reset the answer away."""

    sock: socket.socket
    deadline: float
    release: Any = None


_LISTENER = object()
_WAKE = object()


class Gatherer:
    """Cheroot's connection manager, replaced (see the module's docstring).

    Threads: ``run`` is the selector thread, the only one that touches the
    selector; request threads hand connections back through ``put``, which
    queues them and wakes the selector.
    """

    def __init__(self, server: Server, config: WebConfig, max_connections: int) -> None:
        self.server = server
        self._request_timeout = config.request_timeout_seconds
        self._idle_timeout = config.idle_timeout_seconds
        self._per_client_cap = config.max_client_connections
        self._max_connections = max_connections
        self._accept_paused_until = 0.0
        self._selector = selectors.DefaultSelector()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        server.socket.setblocking(False)
        self._selector.register(server.socket, selectors.EVENT_READ, _LISTENER)
        self._selector.register(self._wake_reader, selectors.EVENT_READ, _WAKE)
        self._returned: collections.deque[Connection] = collections.deque()
        self._to_linger: collections.deque[_Closing] = collections.deque()
        self._closed = False
        self._lock = threading.Lock()
        self._per_client: collections.Counter[str] = collections.Counter()
        self._open = 0
        self._refused = 0
        self._refusal_logged_at = 0.0
        self._stop_requested = False
        self._serving = False

    # -- the interface cheroot's HTTPServer uses ------------------------------------------

    @property
    def can_add_keepalive_connection(self) -> bool:
        return self._open < self._max_connections

    def put(self, conn: Connection) -> None:
        """From a request thread, after a response on a connection kept alive."""
        self._returned.append(conn)
        self._wake()

    def linger_later(self, sock: socket.socket, release) -> None:
        """From a request thread: ``sock`` has stopped sending; read it until the client
        closes (or ``LINGER_SECONDS``), then close it (see ``Connection``)."""
        closing = _Closing(sock, time.monotonic() + LINGER_SECONDS, release)
        if self._closed:
            self._close_lingering(closing)
            return
        self._to_linger.append(closing)
        self._wake()

    def run(self, expiration_interval: float) -> None:
        self._serving = True
        try:
            self._loop(expiration_interval)
        finally:
            self._serving = False

    def stop(self) -> None:
        self._stop_requested = True
        self._wake()
        while self._serving:
            time.sleep(0.01)

    def close(self) -> None:
        self._closed = True
        for key in list(self._selector.get_map().values()):
            if key.data is not _LISTENER and key.data is not _WAKE:
                self._discard(key.data)
        while self._returned:
            self._returned.popleft().close()
        while self._to_linger:
            self._close_lingering(self._to_linger.popleft())
        self._selector.close()
        self._wake_reader.close()
        self._wake_writer.close()

    # -- the loop ---------------------------------------------------------------------------

    def _wake(self) -> None:
        try:
            self._wake_writer.send(b"\0")
        except OSError:
            pass  # a wake is pending already, or we are closing

    def _loop(self, expiration_interval: float) -> None:
        next_expiry = time.monotonic() + expiration_interval
        while not self._stop_requested:
            try:
                events = self._selector.select(timeout=expiration_interval)
            except OSError:
                self._drop_invalid()
                continue
            for key, _ in events:
                if key.data is _LISTENER:
                    self._accept()
                elif key.data is _WAKE:
                    self._take_back()
                elif isinstance(key.data, Connection):
                    self._gather(key.data)
                elif isinstance(key.data, _Handshake):
                    self._handshake(key.data)
                else:
                    self._linger(key.data)
            now = time.monotonic()
            if self._accept_paused_until and now >= self._accept_paused_until:
                self._accept_paused_until = 0.0
                self._selector.register(self.server.socket, selectors.EVENT_READ, _LISTENER)
            if now >= next_expiry:
                self._expire(now)
                next_expiry = now + expiration_interval

    def _accept(self) -> None:
        for _ in range(ACCEPTS_PER_WAKE):
            try:
                sock, address = self.server.socket.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    # The listener stays readable: stop watching it for a moment rather
                    # than spin (and log) until a descriptor is free again.
                    logger.warning("cannot accept connections: %s", exc.strerror)
                    self._selector.unregister(self.server.socket)
                    self._accept_paused_until = time.monotonic() + ACCEPT_PAUSE_SECONDS
                return
            client = address[0] if isinstance(address, tuple) else "local"
            if not self._admit(client):
                self._refuse(sock, client)
                continue
            release = _Release(self, client)
            try:
                sock.settimeout(self.server.timeout)
                now = time.monotonic()
                adapter = self.server.ssl_adapter
                if adapter is not None:
                    tls = adapter.context.wrap_socket(
                        sock, server_side=True, do_handshake_on_connect=False
                    )
                    tls.setblocking(False)
                    handshake = _Handshake(tls, address, now + self._idle_timeout, release)
                    self._selector.register(tls, selectors.EVENT_READ, handshake)
                    continue
                conn = self._connection(sock, address, {}, MakeFile)
            except OSError:
                sock.close()
                release()
                continue
            conn.on_close = release
            conn.deadline = now + self._idle_timeout
            self._selector.register(sock, selectors.EVENT_READ, conn)

    def _connection(self, sock, address, ssl_env, makefile) -> Connection:
        conn = self.server.ConnectionClass(self.server, sock, makefile)
        if isinstance(address, tuple):
            conn.remote_addr, conn.remote_port = address[0], address[1]
        conn.ssl_env = ssl_env
        return conn

    def _handshake(self, handshake: _Handshake) -> None:
        tls = handshake.tls
        try:
            tls.do_handshake()
        except ssl.SSLWantReadError:
            self._selector.modify(tls, selectors.EVENT_READ, handshake)
            return
        except ssl.SSLWantWriteError:
            self._selector.modify(tls, selectors.EVENT_WRITE, handshake)
            return
        except (ssl.SSLError, OSError) as exc:
            self._selector.unregister(tls)
            if "http request" in str(exc).lower():
                # Plain HTTP sent to the TLS port: say so, in plain HTTP.
                answer = raw_response("400 Bad Request", "this port speaks HTTPS only")
                closing = _Closing(tls, time.monotonic() + LINGER_SECONDS, handshake.release)
                self._linger(closing, answer)
                return
            tls.close()
            handshake.release()
            return
        self._selector.unregister(tls)
        adapter = self.server.ssl_adapter
        try:
            tls.settimeout(self.server.timeout)
            conn = self._connection(
                tls, handshake.address, adapter.get_environ(tls), adapter.makefile
            )
        except OSError:
            tls.close()
            handshake.release()
            return
        conn.on_close = handshake.release
        conn.deadline = time.monotonic() + self._idle_timeout
        self._selector.register(tls, selectors.EVENT_READ, conn)
        if tls.pending():
            self._gather(conn)

    def _gather(self, conn: Connection) -> None:
        """The connection is readable: take what it sent, and hand it to a request
        thread once the head of its request is in."""
        try:
            data = self._receive(conn.socket)
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return
        except OSError:
            self._discard(conn)
            return
        if not data:  # the client closed its side
            if conn.pending:
                self._hand_off(conn)  # cheroot answers what it can of it
            else:
                self._discard(conn)
            return
        if not conn.pending:
            conn.deadline = time.monotonic() + self._request_timeout  # its first byte
        start = len(conn.pending)
        conn.pending += data
        if head_complete(conn.pending, start) or len(conn.pending) > MAX_HEADER_BYTES:
            self._hand_off(conn)

    def _receive(self, sock: socket.socket) -> bytes:
        if isinstance(sock, ssl.SSLSocket):
            sock.setblocking(False)
            try:
                data = sock.recv(RECV_BYTES)
                while data and sock.pending() and len(data) <= MAX_HEADER_BYTES:
                    data += sock.recv(RECV_BYTES)
            finally:
                sock.settimeout(self.server.timeout)
            return data
        return sock.recv(RECV_BYTES, socket.MSG_DONTWAIT)

    def _hand_off(self, conn: Connection) -> None:
        if conn.socket in self._selector.get_map():
            self._selector.unregister(conn.socket)
        conn.rfile.start_request(bytes(conn.pending), conn.deadline)
        conn.pending = bytearray()
        conn.linger_later = self.linger_later
        self.server.process_conn(conn)

    def _take_back(self) -> None:
        try:
            while self._wake_reader.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        while self._to_linger:
            closing = self._to_linger.popleft()
            try:
                self._selector.register(closing.sock, selectors.EVENT_READ, closing)
            except (ValueError, OSError):
                self._close_lingering(closing)
        now = time.monotonic()
        while self._returned:
            conn = self._returned.popleft()
            conn.linger_later = None
            leftover = conn.rfile.take_unread()
            conn.pending = bytearray(leftover)
            if leftover:
                conn.deadline = now + self._request_timeout
                if head_complete(conn.pending):
                    self._hand_off(conn)
                    continue
            else:
                conn.deadline = now + self._idle_timeout
            try:
                self._selector.register(conn.socket, selectors.EVENT_READ, conn)
            except (ValueError, OSError):  # the socket was closed meanwhile
                conn.close()
                continue
            if isinstance(conn.socket, ssl.SSLSocket) and conn.socket.pending():
                self._gather(conn)

    def _expire(self, now: float) -> None:
        for key in list(self._selector.get_map().values()):
            record = key.data
            if record is _LISTENER or record is _WAKE or record.deadline > now:
                continue
            if isinstance(record, Connection) and record.pending:
                self._selector.unregister(record.socket)
                self._answer_and_close(
                    record,
                    "408 Request Timeout",
                    f"the request was not received within {self._request_timeout:g} s",
                )
            else:
                self._discard(record)

    # -- connections refused, answered, closed ----------------------------------------------

    def _admit(self, client: str) -> bool:
        with self._lock:
            over_cap = self._per_client_cap and self._per_client[client] >= self._per_client_cap
            if over_cap or self._open >= self._max_connections:
                return False
            self._per_client[client] += 1
            self._open += 1
            return True

    def release(self, client: str) -> None:
        with self._lock:
            self._open -= 1
            self._per_client[client] -= 1
            if self._per_client[client] <= 0:
                del self._per_client[client]

    def _refuse(self, sock: socket.socket, client: str) -> None:
        self._refused += 1
        now = time.monotonic()
        if now - self._refusal_logged_at >= REFUSAL_LOG_INTERVAL_SECONDS:
            logger.warning(
                "connections refused count=%d last_client=%s max_client_connections=%d "
                "max_connections=%d",
                self._refused,
                client,
                self._per_client_cap,
                self._max_connections,
            )
            self._refusal_logged_at = now
            self._refused = 0
        if self.server.ssl_adapter is not None:
            sock.close()  # no HTTP can be spoken before the TLS handshake
            return
        if self._open < self._max_connections:
            message = "too many connections from this client"
        else:
            message = "too many connections"
        answer = raw_response("503 Service Unavailable", message)
        self._linger(_Closing(sock, now + LINGER_SECONDS), answer)

    def _answer_and_close(self, conn: Connection, status: str, message: str) -> None:
        sock = conn.socket
        answer = raw_response(status, message)
        if isinstance(sock, ssl.SSLSocket):
            try:
                sock.setblocking(False)
                sock.send(answer)
            except OSError:
                pass
            conn.close()
            return
        release, conn.on_close = conn.on_close, None
        self._linger(_Closing(sock, time.monotonic() + LINGER_SECONDS, release), answer)

    def _linger(self, closing: _Closing, answer: bytes | None = None) -> None:
        """Send ``answer`` (first call) and stop sending; then, each time the socket is
        readable, read and ignore until the client closes, or until the deadline."""
        sock = closing.sock
        # The socket's own methods, not TLS's: what is sent and read here is plain.
        if answer is not None:
            try:
                socket.socket.send(sock, answer, socket.MSG_DONTWAIT)
                socket.socket.shutdown(sock, socket.SHUT_WR)
                self._selector.register(sock, selectors.EVENT_READ, closing)
                return
            except OSError:
                self._close_lingering(closing)
                return
        try:
            if socket.socket.recv(sock, RECV_BYTES, socket.MSG_DONTWAIT):
                return
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            pass
        self._selector.unregister(sock)
        self._close_lingering(closing)

    @staticmethod
    def _close_lingering(closing: _Closing) -> None:
        closing.sock.close()
        if closing.release is not None:
            closing.release()

    def _discard(self, record) -> None:
        """Unregister and close a connection, a handshake or a lingering socket."""
        sock = getattr(record, "socket", None) or getattr(record, "tls", None) or record.sock
        try:
            self._selector.unregister(sock)
        except (KeyError, ValueError):
            pass
        if isinstance(record, Connection):
            record.close()
        elif isinstance(record, _Handshake):
            record.tls.close()
            record.release()
        else:
            self._close_lingering(record)

    def _drop_invalid(self) -> None:
        for key in list(self._selector.get_map().values()):
            if key.data is _LISTENER or key.data is _WAKE:
                continue
            if key.fileobj.fileno() < 0:
                self._discard(key.data)


class _Release:
    """Frees one client's slot, once."""

    __slots__ = ("_client", "_gatherer", "_done")

    def __init__(self, gatherer: Gatherer, client: str) -> None:
        self._gatherer = gatherer
        self._client = client
        self._done = False

    def __call__(self) -> None:
        if not self._done:
            self._done = True
            self._gatherer.release(self._client)
