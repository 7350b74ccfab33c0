"""Task ids: UUIDs of version 7 (RFC 9562), which begin with the time they were made.

The reference makes uuid4 ids, whose order is random. Every index keyed by
a task id (the primary key, the history's ``task_events_task``, the
deliveries') then takes each new row on a random page, and each commit
writes one page per task it touched: in the settle-and-claim loop, with
the history on, that was about a quarter of the drain rate. Ids that grow
with time land where the index ends, a few pages per commit whatever the
table's size.

A version 7 id is 48 bits of Unix milliseconds, the version and variant,
and 74 random bits (``os.urandom``): fewer than a uuid4's 122, still far
beyond guessing or colliding within one millisecond. It tells when the
task was made, which ``created_at`` tells anyway.
"""

from __future__ import annotations

import os
import threading

_POOL_BYTES = 4096  # random bytes read from the OS at a time, per thread
_ID_BYTES = 10  # 74 of their 80 bits are used
_VARIANT_DIGITS = "89ab"  # the variant's two bits (10) and two random ones
_pool = threading.local()


def new_task_id(now_ns: int) -> str:
    """A version 7 UUID for a task accepted at ``now_ns`` (Unix nanoseconds), as text.

    Its random bits come from ``os.urandom``, read 4 KiB at a time per thread
    (one system call per 409 ids rather than one each); a forked child reads
    its own.
    """
    pid = os.getpid()
    buffer, at = getattr(_pool, "buffer", b""), getattr(_pool, "at", 0)
    if at + _ID_BYTES > len(buffer) or getattr(_pool, "pid", None) != pid:
        buffer, at = os.urandom(_POOL_BYTES), 0
        _pool.buffer, _pool.pid = buffer, pid
    _pool.at = at + _ID_BYTES
    random = buffer[at : at + _ID_BYTES].hex()
    millis = f"{(now_ns // 1_000_000) & 0xFFFF_FFFF_FFFF:012x}"
    variant = _VARIANT_DIGITS[buffer[at + _ID_BYTES - 1] & 3]
    return f"{millis[:8]}-{millis[8:]}-7{random[:3]}-{variant}{random[3:6]}-{random[6:18]}"


def created_at_of(task_id: str) -> float | None:
    """When a version 7 id was made, in Unix seconds to the millisecond; None for any
    other id (a uuid4 from the reference's rows, kept by the migration)."""
    if len(task_id) != 36 or task_id[14] != "7":
        return None
    try:
        return int(task_id[:8] + task_id[9:13], 16) / 1000
    except ValueError:
        return None
