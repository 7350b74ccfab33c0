"""How a failure is described: the text kept in a task's ``error`` and in the logs."""

from __future__ import annotations

MAX_ERROR_CHARS = 2000  # a task's error keeps the start of a longer message


def describe(exc: BaseException) -> str:
    """``Type: message``, whatever the exception does when printed.

    An exception whose ``str()`` raises would otherwise escape the worker
    from its own error handling and take it down, over and over.
    """
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001 - any failure to print falls back to the type
        message = "<exception text unavailable>"
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return text[:MAX_ERROR_CHARS]
