"""A client connection as the server keeps it: the bytes the selector already read for a
request go in front of the socket, reads stop at the request's deadline, and a close
made by a request thread lingers (see ``Connection``). Written against cheroot 11.1."""

from __future__ import annotations

import _pyio
import socket
import time

import orjson
from cheroot.makefile import MakeFile, StreamReader
from cheroot.server import HTTPConnection

from .protocol_errors import JsonErrorRequest


def raw_response(status: str, message: str) -> bytes:
    body = orjson.dumps({"error": message})
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def head_complete(data: bytes | bytearray, start: int = 0) -> bool:
    """Whether ``data`` holds a whole request head (line and headers), or a line that
    cheroot refuses at once (a bare LF), so that a thread reading it will not wait."""
    start = max(0, start - 3)
    if data.find(b"\r\n\r\n", start) >= 0:
        return True
    position = data.find(b"\n", start)
    while position >= 0:
        if position == 0 or data[position - 1] != 0x0D:
            return True
        position = data.find(b"\n", position + 1)
    return False


class RequestSocketIO(socket.SocketIO):
    """The socket as a raw stream for one request at a time: first the bytes the
    selector already read (``prefix``), then the socket itself, every read bounded by
    the request's ``deadline`` (monotonic seconds) rather than renewed by each byte."""

    def __init__(self, sock: socket.socket, idle_timeout: float) -> None:
        super().__init__(sock, "rb")
        self.prefix = b""
        self.deadline: float | None = None
        self._idle_timeout = idle_timeout

    def readinto(self, buffer) -> int:
        if self.prefix:
            count = min(len(buffer), len(self.prefix))
            buffer[:count] = self.prefix[:count]
            self.prefix = self.prefix[count:]
            return count
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("timed out")  # the words cheroot answers 408 to
            self._sock.settimeout(min(left, self._idle_timeout))
        return super().readinto(buffer)


class RequestReader(StreamReader):
    """Cheroot's buffered socket reader, over a ``RequestSocketIO``."""

    def __init__(self, sock: socket.socket, bufsize: int, idle_timeout: float) -> None:
        _pyio.BufferedReader.__init__(self, RequestSocketIO(sock, idle_timeout), bufsize)
        self.bytes_read = 0

    def start_request(self, head: bytes, deadline: float) -> None:
        self.raw.prefix = head
        self.raw.deadline = deadline

    def take_unread(self) -> bytes:
        """What was received but not read (a pipelined request): it goes back to the selector."""
        parts = []
        while self.has_data():
            parts.append(self.read1(self.buffer_size))
        parts.append(self.raw.prefix)
        self.raw.prefix = b""
        self.raw.deadline = None
        return b"".join(parts)


class Connection(HTTPConnection):
    """A client connection: its reader honours the request deadline, and closing it
    frees its client's slot.

    Closed by a request thread (after an answer with ``Connection: close``), it is
    not closed at once: what the client still sends (the rest of a body that was
    refused) would make the kernel reset the connection, and a reset can destroy
    the answer before the client reads it. It stops sending instead, and the
    selector reads and ignores until the client closes, or for ``LINGER_SECONDS``.
    """

    RequestHandlerClass = JsonErrorRequest

    def __init__(self, server, sock, makefile=MakeFile) -> None:
        super().__init__(server, sock, makefile)
        self.rfile = RequestReader(sock, self.rbufsize, server.timeout)
        self.pending = bytearray()  # the head of the next request, as far as it came
        self.deadline = 0.0  # when the selector gives up on it (monotonic seconds)
        self.on_close = None
        self.linger_later = None  # while a request thread has it: the gatherer's method

    def close(self) -> None:
        release, self.on_close = self.on_close, None
        linger_later, self.linger_later = self.linger_later, None
        if linger_later is not None:
            try:
                self.rfile.close()
                socket.socket.shutdown(self.socket, socket.SHUT_WR)
            except OSError:
                pass
            else:
                linger_later(self.socket, release)
                return
        try:
            super().close()
        finally:
            if release is not None:
                release()
