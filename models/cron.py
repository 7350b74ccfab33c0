"""Cron expressions in a time zone: when a schedule fires next.

The parsing and the calendar arithmetic are CronSim's (``cronsim``, the
evaluator Healthchecks runs), chosen because it follows Debian's cron on
daylight-saving changes: a time that a spring change skips fires once, right
after the change (``30 2 * * *`` runs at 03:00 that night), and a time that an
autumn change repeats fires once (``0 2 * * *`` runs at the first 02:00 only),
while a schedule with a wildcard hour keeps its real-time rhythm through the
repeated hour. Here: the five standard fields only, and the ``@hourly``-style
aliases of crontab(5), which name five-field expressions.

Every moment in and out is Unix seconds; the zone is only for the calendar.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from .errors import InvalidInput

# crontab(5): each alias is a five-field expression (``@reboot`` has no time, so it is not here).
ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MAX_CRON_LENGTH = 200
MAX_TIMEZONE_LENGTH = 64
MAX_FORWARD_STEPS = 1000  # past this many missed ticks, the latest is found backwards


class Cron:
    """A checked cron expression in a time zone."""

    def __init__(self, expression: str, timezone: str = "UTC") -> None:
        """Raises ``InvalidInput`` naming ``cron`` or ``timezone``."""
        self.expression = check_cron(expression)
        self.timezone = timezone
        self.zone = check_timezone(timezone)
        self._fields = ALIASES.get(self.expression, self.expression)

    def next_after(self, moment: float) -> float:
        """The first tick strictly after ``moment``."""
        start = datetime.fromtimestamp(moment, self.zone)
        return next(CronSim(self._fields, start)).timestamp()

    def latest_between(self, first_tick: float, moment: float) -> float:
        """The latest tick at or before ``moment``, given that ``first_tick`` (a tick, at or
        before ``moment``) is one: the tick a schedule owes after its node was away."""
        latest = first_tick
        ticks = CronSim(self._fields, datetime.fromtimestamp(first_tick, self.zone))
        for _ in range(MAX_FORWARD_STEPS):
            following = next(ticks).timestamp()
            if following > moment:
                return latest
            latest = following
        # A long outage: find it backwards from just past the moment (CronSim's reverse
        # iteration includes the start's own second when it carries microseconds).
        start = datetime.fromtimestamp(moment, self.zone).replace(microsecond=1)
        return max(latest, next(CronSim(self._fields, start, reverse=True)).timestamp())


def check_cron(expression: object) -> str:
    """Five fields (minute, hour, day of month, month, day of week) with ranges, steps,
    lists and names, or an alias such as ``@hourly``."""
    if not isinstance(expression, str) or not expression.strip():
        raise InvalidInput("cron must be a cron expression such as '*/5 * * * *'")
    text = " ".join(expression.split())
    if len(text) > MAX_CRON_LENGTH:
        raise InvalidInput(f"cron must be at most {MAX_CRON_LENGTH} characters")
    if text.startswith("@"):
        if text.lower() not in ALIASES:
            raise InvalidInput(f"cron: unknown alias {text!r}; use one of {', '.join(ALIASES)}")
        return text.lower()
    if len(text.split(" ")) != 5:
        raise InvalidInput(
            "cron must have five fields (minute hour day-of-month month day-of-week), "
            f"got {len(text.split(' '))}"
        )
    try:
        CronSim(text, datetime(2000, 1, 1, tzinfo=UTC))
    except (CronSimError, ValueError) as exc:
        raise InvalidInput(f"cron: {exc}") from None
    try:  # an expression that never matches (30 February) is refused too
        next(CronSim(text, datetime(2000, 1, 1, tzinfo=UTC)))
    except StopIteration:
        raise InvalidInput("cron: the expression never fires") from None
    return text


def check_timezone(name: object) -> ZoneInfo:
    """An IANA time zone name such as ``Europe/Berlin`` or ``UTC``."""
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_TIMEZONE_LENGTH:
        raise InvalidInput("timezone must be an IANA time zone name such as 'Europe/Berlin'")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidInput(f"timezone: unknown time zone {name!r}") from None


def iso_utc(moment: float) -> str:
    """``2026-03-29T01:00:00Z``: a fire time as it appears in idempotency keys."""
    stamp = datetime.fromtimestamp(moment, UTC)
    if stamp.microsecond:
        stamp -= timedelta(microseconds=stamp.microsecond)
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
