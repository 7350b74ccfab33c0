"""One log line per event, with its fields as ``key=value`` pairs."""

from __future__ import annotations

import logging
from typing import Any

from .log_writer import LineWriter

logger = logging.getLogger("taskqueue")


class _Direct:
    """The writer event lines go to without a ``LogRecord`` (``write_directly``)."""

    writer: LineWriter | None = None


def write_directly(writer: LineWriter | None) -> None:
    """Send event lines straight to ``writer``, the only handler of the root logger,
    which the ``taskqueue`` loggers propagate to with no handler or filter of their own
    (run.py's logging): the same line, made without a ``LogRecord`` (a task's two lines
    were a quarter of a drain's GIL time). Other handlers need records: call it only
    for such a set-up; ``None`` goes back to records."""
    _Direct.writer = writer


def log_event(event: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log ``event`` followed by its fields, e.g. ``task completed task_id=… duration_ms=3.1``."""
    if not logger.isEnabledFor(level):
        return
    parts = [event]
    for key, value in fields.items():
        if isinstance(value, float):
            value = f"{value:.3f}"
        elif isinstance(value, str) and (" " in value or not value):
            value = repr(value)
        parts.append(f"{key}={value}")
    message = " ".join(parts)
    writer = _Direct.writer
    if writer is None or not writer.write(level, message):
        logger.log(level, message)
