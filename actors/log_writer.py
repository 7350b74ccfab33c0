"""Log lines written by a thread of their own, so that the threads doing the work do
not each wait for a write to the log.

The logging module's ``StreamHandler`` writes and flushes every record while
holding its lock, from the thread that logged: at two lines per task (the
reference's "processing task", then "task completed"), those writes took
about a third of the drain's CPU time on this machine, in the threads that
run the tasks. Here a record is formatted where it is logged and queued;
the writer thread takes every line waiting and writes them in one call,
while the workers go on. The stdlib's ``QueueHandler`` does the first half,
but its ``QueueListener`` writes each record on its own.

Lines keep the order they were logged in. ``flush`` waits until every line
logged before it is written (``os._exit`` paths call it); ``close`` (at
``logging.shutdown``) writes the rest and stops the thread. A kill -9
loses only the lines not yet written, at most the last few milliseconds.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import TextIO

FLUSH_TIMEOUT_SECONDS = 5.0  # a flush or close waits for a stuck stream this long at most
_STOP = object()


LINE_FORMAT = "%(asctime)s %(levelname)s %(message)s"


class LineFormatter(logging.Formatter):
    """``logging.Formatter`` with its default time (``2026-11-30 12:03:10,123``), whose
    date and time of day are formatted once a second rather than for every line."""

    def __init__(self, fmt: str = LINE_FORMAT) -> None:
        super().__init__(fmt)
        self._second: tuple[int, str] = (-1, "")  # replaced whole: safe across threads

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - the stdlib's name
        return self._time(record.created, record.msecs)

    def _time(self, created: float, msecs: float) -> str:
        second = int(created)
        cached_second, text = self._second
        if second != cached_second:
            text = time.strftime(self.default_time_format, self.converter(created))
            self._second = (second, text)
        return self.default_msec_format % (text, msecs)

    def line(self, levelno: int, message: str) -> str | None:
        """The line ``format`` makes of a record of ``message`` logged now at ``levelno``,
        made without a record; None if this formatter's format is not ``LINE_FORMAT``."""
        if self._fmt != LINE_FORMAT:
            return None
        created = time.time()
        msecs = (created - int(created)) * 1000  # as LogRecord computes it
        return f"{self._time(created, msecs)} {logging.getLevelName(levelno)} {message}"


class LineWriter(logging.Handler):
    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream
        self._lines: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self._thread.start()

    def handle(self, record: logging.LogRecord) -> bool:
        """As ``Handler.handle``, without its lock: formatting and queueing need none."""
        if not self.filter(record):
            return False
        self.emit(record)
        return True

    def write(self, levelno: int, message: str) -> bool:
        """Queue ``message`` as a line logged at ``levelno``, as ``emit`` would write its
        record, but without making one (``actors.log.log_event``'s path); False, and
        nothing queued, if this handler's level or filters or formatter ask for a record."""
        formatter = self.formatter
        if self.filters or levelno < self.level or not isinstance(formatter, LineFormatter):
            return False
        line = formatter.line(levelno, message)
        if line is None:
            return False
        self._lines.put(line)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._lines.put(self.format(record))
        except Exception:  # noqa: BLE001 - as every handler: a log line never raises
            self.handleError(record)

    def flush(self) -> None:
        """Wait until every line queued before this call is written (bounded)."""
        if not self._thread.is_alive():
            return
        done = threading.Event()
        self._lines.put(done)
        done.wait(FLUSH_TIMEOUT_SECONDS)

    def close(self) -> None:
        if self._thread.is_alive():
            self._lines.put(_STOP)
            self._thread.join(FLUSH_TIMEOUT_SECONDS)
        super().close()

    def _run(self) -> None:
        while True:
            items = [self._lines.get()]
            while True:
                try:
                    items.append(self._lines.get_nowait())
                except queue.Empty:
                    break
            lines = [item for item in items if isinstance(item, str)]
            if lines:
                self._write("\n".join(lines) + "\n")
            for item in items:
                if isinstance(item, threading.Event):
                    item.set()
            if _STOP in items:
                return

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except Exception:  # noqa: BLE001 - a closed or full stream loses lines, not the thread
            pass
