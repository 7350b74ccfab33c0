"""One log line per event, with its fields as ``key=value`` pairs."""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger("taskqueue")


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
    logger.log(level, " ".join(parts))
