"""Cron expressions in a time zone, daylight-saving changes included, and what a schedule
owes after ticks were missed."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

import models

BERLIN = ZoneInfo("Europe/Berlin")


def local(*args, fold: int = 0) -> float:
    return datetime(*args, tzinfo=BERLIN, fold=fold).timestamp()


def utc(*args) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def ticks(cron: models.Cron, start: float, end: float) -> list[float]:
    """Every tick after ``start`` up to ``end``, as the scheduler walks them."""
    found, moment = [], start
    while (moment := cron.next_after(moment)) <= end:
        found.append(moment)
    return found


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("*/15 * * * *", utc(2026, 1, 5, 10, 7), utc(2026, 1, 5, 10, 15)),  # step
        ("5-7 * * * *", utc(2026, 1, 5, 10, 7), utc(2026, 1, 5, 11, 5)),  # range
        ("0 8,12,18 * * *", utc(2026, 1, 5, 12, 0), utc(2026, 1, 5, 18, 0)),  # list
        ("0 9 * * MON-FRI", utc(2026, 1, 9, 9, 0), utc(2026, 1, 12, 9, 0)),  # names: Fri → Mon
        ("0 0 1 JAN,jul *", utc(2026, 1, 5), utc(2026, 7, 1)),  # month names, any case
        ("0 0 * * 7", utc(2026, 1, 5), utc(2026, 1, 11)),  # 7 is Sunday too
        ("0 */6 1-10/3 * *", utc(2026, 1, 1, 19), utc(2026, 1, 4, 0)),  # steps of a range
        ("@hourly", utc(2026, 1, 5, 10, 7), utc(2026, 1, 5, 11)),
        ("@daily", utc(2026, 1, 5, 10), utc(2026, 1, 6)),
        ("@midnight", utc(2026, 1, 5, 10), utc(2026, 1, 6)),
        ("@weekly", utc(2026, 1, 5), utc(2026, 1, 11)),
        ("@monthly", utc(2026, 1, 5), utc(2026, 2, 1)),
        ("@yearly", utc(2026, 1, 5), utc(2027, 1, 1)),
        ("@annually", utc(2026, 1, 5), utc(2027, 1, 1)),
    ],
)
def test_the_standard_fields_and_the_aliases(expression, after, expected):
    assert models.Cron(expression).next_after(after) == expected


def test_a_time_zone_sets_the_calendar():
    # 09:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer
    cron = models.Cron("0 9 * * *", "Europe/Berlin")
    assert cron.next_after(utc(2026, 1, 5)) == utc(2026, 1, 5, 8)
    assert cron.next_after(utc(2026, 7, 5)) == utc(2026, 7, 5, 7)


@pytest.mark.parametrize(
    ("expression", "named"),
    [
        ("61 * * * *", "cron"),
        ("* * * *", "cron"),
        ("* * * * * *", "cron"),  # no seconds field
        ("@reboot", "cron"),
        ("@fortnightly", "cron"),
        ("0 0 30 2 *", "cron"),  # never fires
        ("", "cron"),
        (None, "cron"),
        (5, "cron"),
        ("x" * 300, "cron"),
    ],
)
def test_a_bad_cron_is_refused_naming_the_field(expression, named):
    with pytest.raises(models.InvalidInput, match=rf"^{named}"):
        models.check_cron(expression)


@pytest.mark.parametrize("zone", ["Mars/Base", "", "../../etc/passwd", "/etc/localtime", 3, None])
def test_a_bad_timezone_is_refused_naming_the_field(zone):
    with pytest.raises(models.InvalidInput, match=r"^timezone"):
        models.check_timezone(zone)


# -- daylight saving: Europe/Berlin changes at 02:00 on the last Sunday of March (to 03:00)
# and at 03:00 on the last Sunday of October (back to 02:00)


def test_spring_forward_a_time_in_the_skipped_hour_runs_once_right_after_it():
    cron = models.Cron("30 2 * * *", "Europe/Berlin")
    fired = ticks(cron, local(2026, 3, 27, 12), local(2026, 3, 31, 12))
    # 28th 02:30, then 29th: 02:30 does not exist, it runs at 03:00; then 30th 02:30 again
    assert fired == [
        local(2026, 3, 28, 2, 30),
        local(2026, 3, 29, 3, 0),
        local(2026, 3, 30, 2, 30),
        local(2026, 3, 31, 2, 30),
    ]
    assert fired[1] == utc(2026, 3, 29, 1, 0)


def test_autumn_back_a_time_in_the_repeated_hour_runs_once():
    cron = models.Cron("30 2 * * *", "Europe/Berlin")
    fired = ticks(cron, local(2026, 10, 24, 12), local(2026, 10, 27, 12))
    assert fired == [
        local(2026, 10, 25, 2, 30),
        local(2026, 10, 26, 2, 30),
        local(2026, 10, 27, 2, 30),
    ]
    # the first 02:30 of the night (summer time), not the second
    assert fired[0] == utc(2026, 10, 25, 0, 30)


def test_through_the_repeated_hour_an_interval_keeps_its_real_time_rhythm():
    cron = models.Cron("*/30 * * * *", "Europe/Berlin")
    fired = ticks(cron, utc(2026, 10, 24, 23, 45), utc(2026, 10, 25, 2, 15))
    # every 30 minutes of real time: no instant twice, none skipped
    assert fired == [utc(2026, 10, 25, 0, 0) + 1800 * n for n in range(5)]


def test_through_the_skipped_hour_an_interval_keeps_its_real_time_rhythm():
    cron = models.Cron("*/30 * * * *", "Europe/Berlin")
    fired = ticks(cron, utc(2026, 3, 28, 23, 45), utc(2026, 3, 29, 2, 15))
    assert fired == [utc(2026, 3, 29, 0, 0) + 1800 * n for n in range(5)]


# -- what a schedule owes when it is due: the plan


def test_a_tick_on_time_runs_and_the_next_is_after_now():
    cron = models.Cron("*/5 * * * *")
    due = utc(2026, 1, 5, 10, 5)
    assert models.plan_firing(cron, due, due + 0.4, "none") == (due, utc(2026, 1, 5, 10, 10))


@pytest.mark.parametrize("catch_up", models.CATCH_UP)
def test_after_an_outage_at_most_one_run_and_only_with_catch_up_one(catch_up):
    # Due at 10:05, but no node was up until 13:02: 35 ticks were missed
    cron = models.Cron("*/5 * * * *")
    fire_at, next_at = models.plan_firing(
        cron, utc(2026, 1, 5, 10, 5), utc(2026, 1, 5, 13, 2), catch_up
    )
    assert fire_at == (utc(2026, 1, 5, 13, 0) if catch_up == "one" else None)
    assert next_at == utc(2026, 1, 5, 13, 5)


def test_a_tick_late_within_the_grace_is_not_a_missed_one():
    cron = models.Cron("0 * * * *")
    due = utc(2026, 1, 5, 10)
    late = due + models.MISFIRE_GRACE_SECONDS - 1
    assert models.plan_firing(cron, due, late, "none")[0] == due


def test_an_outage_of_years_is_planned_without_walking_every_tick():
    cron = models.Cron("* * * * *")
    fire_at, next_at = models.plan_firing(cron, utc(2020, 1, 1), utc(2026, 1, 5, 10, 0, 30), "one")
    assert (fire_at, next_at) == (utc(2026, 1, 5, 10, 0), utc(2026, 1, 5, 10, 1))


def test_the_key_of_a_tick_names_the_schedule_and_its_time_in_utc():
    assert models.schedule_key("report", local(2026, 3, 29, 3)) == (
        "schedule:report:2026-03-29T01:00:00Z"
    )
