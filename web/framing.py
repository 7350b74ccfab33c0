"""Request bodies as the connection frames them: strict chunked coding, a deferred
``100 Continue``, and whether the connection is still at a request boundary afterwards.

A body the handler did not read to its end leaves the stream in the middle of
something: the next "request" read from it would be the body's leftovers, which a
client could fill with a request of its choosing (request smuggling). So the
request class (``protocol_errors.JsonErrorRequest``) asks ``BodyStream.finish``
after each response whether the connection may be kept, and closes it otherwise.
"""

from __future__ import annotations

import re

from cheroot.errors import MaxSizeExceeded

CRLF = b"\r\n"
CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
# A body left unread by the handler (an error answered before reading it) is read
# and thrown away up to this size, so that the connection can serve the next
# request; a larger one closes the connection instead.
MAX_DRAIN_BYTES = 64 * 1024
MAX_TRAILER_LINES = 32


class FramingError(ValueError):
    """The body's framing is broken: the stream is no longer at a request boundary."""


class ChunkedBody:
    """A ``Transfer-Encoding: chunked`` body, read strictly (RFC 9112 section 7.1).

    Unlike cheroot's ``ChunkedRFile``, a chunk size must be hexadecimal digits
    only (cheroot reads ``-5`` as the last chunk, and what follows as the next
    request), and the trailer section after the last chunk is read to its empty
    line, so that a fully read body leaves the stream at the next request.
    ``limit`` bounds every byte read, chunk headers included.
    """

    def __init__(self, rfile, limit: int) -> None:
        self._rfile = rfile
        self._limit = limit
        self._buffer = b""
        self.bytes_read = 0
        self.finished = False  # the last chunk and the trailers were read

    def read(self, size: int | None = None) -> bytes:
        if size is not None and size < 0:
            size = None
        parts = []
        wanted = size
        while wanted is None or wanted > 0:
            if not self._buffer:
                if self.finished:
                    break
                self._fetch()
                continue
            piece = self._buffer if wanted is None else self._buffer[:wanted]
            self._buffer = self._buffer[len(piece) :]
            parts.append(piece)
            if wanted is not None:
                wanted -= len(piece)
        return b"".join(parts)

    def readline(self, size: int | None = None) -> bytes:
        line = b""
        while not line.endswith(b"\n") and (size is None or size < 0 or len(line) < size):
            byte = self.read(1)
            if not byte:
                break
            line += byte
        return line

    def close(self) -> None:
        pass

    def _line(self) -> bytes:
        line = self._rfile.readline(self._limit - self.bytes_read + 1)
        self.bytes_read += len(line)
        if self.bytes_read > self._limit:
            raise MaxSizeExceeded("Request Entity Too Large", self._limit)
        if not line.endswith(CRLF):
            raise FramingError("bad chunked encoding: a line does not end with CRLF")
        return line[:-2]

    def _fetch(self) -> None:
        size_text = self._line().split(b";", 1)[0].strip()
        if not CHUNK_SIZE.fullmatch(size_text):
            raise FramingError(f"bad chunked encoding: chunk size {size_text[:20]!r}")
        size = int(size_text, 16)
        if size == 0:
            for _ in range(MAX_TRAILER_LINES):
                if not self._line():
                    self.finished = True
                    return
            raise FramingError("bad chunked encoding: too many trailer lines")
        if self.bytes_read + size > self._limit:
            raise MaxSizeExceeded("Request Entity Too Large", self._limit)
        data = self._rfile.read(size)
        self.bytes_read += len(data)
        if len(data) < size:
            raise FramingError("bad chunked encoding: the body ended inside a chunk")
        if self._rfile.read(2) != CRLF:
            raise FramingError("bad chunked encoding: no CRLF after a chunk's data")
        self.bytes_read += 2
        self._buffer = data


class BodyStream:
    """A request's body as the application reads it (``wsgi.input``).

    ``body`` is cheroot's ``KnownLengthRFile`` or a ``ChunkedBody``. When the
    client sent ``Expect: 100-continue``, ``100 Continue`` is written just before
    the first read: a request answered without reading its body (401, 413,
    415, …) never invites the client to send it.
    """

    def __init__(self, body, chunked: bool, send_continue=None) -> None:
        self._body = body
        self._chunked = chunked
        self._send_continue = send_continue  # a callable, until it has been called
        self.broken = False  # a read failed: the stream is at no known boundary

    def read(self, size: int | None = None) -> bytes:
        return self._guarded(self._body.read, size)

    def readline(self, size: int | None = None) -> bytes:
        return self._guarded(self._body.readline, size)

    def close(self) -> None:
        pass

    def _guarded(self, method, size):
        if self._send_continue is not None:
            send, self._send_continue = self._send_continue, None
            send()
        try:
            return method(size)
        except BaseException:
            self.broken = True
            raise

    @property
    def at_end(self) -> bool:
        if self._chunked:
            return self._body.finished
        return self._body.remaining == 0

    def finish(self) -> bool:
        """After the response: read what is left of a small body, so the connection can
        serve its next request. True if the stream is at a request boundary; False if
        the connection must close (broken framing, a large unread body, or a body the
        client was never invited to send)."""
        if self.broken:
            return False
        if self.at_end:
            return True
        if self._send_continue is not None:
            return False  # the client waits for 100 Continue: it may never send the body
        try:
            if not self._chunked:
                if self._body.remaining > MAX_DRAIN_BYTES:
                    return False
                self._body.read(self._body.remaining)
            else:
                self._body.read(MAX_DRAIN_BYTES)
        except (OSError, ValueError, MaxSizeExceeded):
            return False
        return self.at_end
