"""How long a failed task waits before its next attempt."""

from __future__ import annotations

import random

RETRY_JITTER_FRACTION = 0.25  # a retry waits its backoff plus up to 25 % more


def retry_delay_seconds(
    attempts: int, backoff_seconds: float, rng: random.Random | None = None
) -> float:
    """``backoff * 2^(attempts-1)``, plus up to ``RETRY_JITTER_FRACTION`` of it at random.

    The jitter spreads the retries of tasks that failed together (a database
    or an API down for everyone) so they do not all come back at once.
    """
    base = backoff_seconds * 2 ** (attempts - 1)
    return base * (1 + RETRY_JITTER_FRACTION * (rng or random).random())
