"""How a failure is described: the text kept in a task's ``error`` and ``traceback``, and logged."""

from __future__ import annotations

import traceback

from models import Failure

MAX_ERROR_CHARS = 2000  # a task's error keeps the start of a longer message
MAX_TRACEBACK_FRAMES = 8  # the innermost frames: the user's own code, not ours
MAX_TRACEBACK_CHARS = 8000


def describe(exc: BaseException) -> str:
    """``Type: message`` on one line, whatever the exception does when printed.

    An exception whose ``str()`` raises would otherwise escape the worker
    from its own error handling and take it down, over and over.
    """
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001 - any failure to print falls back to the type
        message = "<exception text unavailable>"
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return " ".join(text.split("\n"))[:MAX_ERROR_CHARS]


def last_frames(exc: BaseException, skip: int = 0) -> str | None:
    """The innermost frames of ``exc``'s traceback, formatted as Python prints them.

    ``skip`` drops that many outer frames (the worker's own call into the
    action). None when there is no traceback or it cannot be formatted.
    """
    try:
        frames = traceback.extract_tb(exc.__traceback__)[skip:]
        if not frames:
            return None
        lines = traceback.format_list(frames[-MAX_TRACEBACK_FRAMES:])
        omitted = len(frames) - MAX_TRACEBACK_FRAMES
        head = "Traceback (most recent call last):\n"
        if omitted > 0:
            head += f"  … {omitted} outer frames omitted\n"
        text = head + "".join(lines) + describe(exc)
    except Exception:  # noqa: BLE001 - a traceback is a courtesy; the error itself is kept
        return None
    return text[-MAX_TRACEBACK_CHARS:]


def failure_of(exc: BaseException, skip_frames: int = 0) -> Failure:
    """What a failed attempt leaves on its task."""
    return Failure(error=describe(exc), traceback=last_frames(exc, skip_frames))
