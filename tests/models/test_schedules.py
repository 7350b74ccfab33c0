"""Schedules in the store, on both backends: kept, replaced, declared, fired once per tick."""

from __future__ import annotations

import pytest

import models

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z, a minute boundary
EVERY_MINUTE = models.ScheduleSpec("tick", "* * * * *", "UTC", {"action": "report"})


def fire(store: models.Store, name: str, now: float, catch_up_default: str = "one"):
    """One scheduler round for ``name`` as the scheduler makes it (see ``Scheduler._fire``)."""
    [schedule] = [s for s in store.due_schedules(now) if s["name"] == name]
    cron = models.Cron(schedule["cron"], schedule["timezone"])
    fire_at, next_at = models.plan_firing(cron, schedule["next_fire_at"], now, schedule["catch_up"])
    row = None
    if fire_at is not None:
        row = models.schedule_task_row(
            schedule["task"], 5, None, models.schedule_key(name, fire_at), int(now * 1e9)
        )
    firing = models.Firing(name, schedule["next_fire_at"], fire_at, next_at)
    return firing, row


def test_a_schedule_is_stored_listed_replaced_and_deleted(store):
    view, created = store.put_schedule(EVERY_MINUTE, NOW + 5)
    assert created
    assert view["next_fire_at"] == NOW + 60
    assert (view["last_fire_at"], view["last_task_id"], view["source"]) == (None, None, "api")
    assert [s["name"] for s in store.list_schedules()] == ["tick"]
    # Replaced with the same cron and zone: its next tick is kept; the task changes
    spec = models.ScheduleSpec("tick", "* * * * *", "UTC", {"action": "other"})
    view, created = store.put_schedule(spec, NOW + 30)
    assert not created
    assert (view["next_fire_at"], view["task"]) == (NOW + 60, {"action": "other"})
    # Another cron counts from now; disabled has no next tick
    view, _ = store.put_schedule(models.ScheduleSpec("tick", "0 * * * *", task={}), NOW + 30)
    assert view["next_fire_at"] == NOW + 3600
    off = models.ScheduleSpec("tick", "0 * * * *", task={}, enabled=False)
    assert store.put_schedule(off, NOW + 30)[0]["next_fire_at"] is None
    store.delete_schedule("tick")
    with pytest.raises(models.TaskNotFound):
        store.get_schedule("tick")
    with pytest.raises(models.TaskNotFound):
        store.delete_schedule("tick")


def test_a_declared_schedule_is_made_only_when_missing(store):
    declared = models.ScheduleSpec("report", "0 * * * *", task={"action": "report"})
    assert store.declare_schedules([declared], NOW) == ["report"]
    assert store.get_schedule("report")["source"] == "code"
    # Changed through the API, it stays as changed at the next start
    store.put_schedule(models.ScheduleSpec("report", "*/5 * * * *", task={"action": "x"}), NOW)
    assert store.declare_schedules([declared], NOW) == []
    assert store.get_schedule("report")["cron"] == "*/5 * * * *"


def test_a_tick_makes_one_task_with_its_key_and_moves_on(store):
    store.put_schedule(EVERY_MINUTE, NOW - 30)
    firing, row = fire(store, "tick", NOW + 0.2)
    task_id = store.fire_schedule(firing, row, NOW + 0.2)
    assert task_id == row["id"]
    task = store.get_task(task_id)
    assert (task["action"], task["status"]) == ("report", "queued")
    assert store.find_by_key("schedule:tick:2027-01-15T08:00:00Z")["id"] == task_id
    view = store.get_schedule("tick")
    assert (view["last_fire_at"], view["last_task_id"], view["next_fire_at"]) == (
        NOW,
        task_id,
        NOW + 60,
    )
    assert store.due_schedules(NOW + 59) == []


def test_two_leaders_firing_the_same_tick_make_one_task(store):
    # Given two leaders (an old one that has not yet noticed it lost the lease) that both
    # read the schedule as due at the same tick
    store.put_schedule(EVERY_MINUTE, NOW - 30)
    first = fire(store, "tick", NOW + 0.1)
    second = fire(store, "tick", NOW + 0.3)
    # When both fire it
    made = store.fire_schedule(*first, NOW + 0.1)
    again = store.fire_schedule(*second, NOW + 0.3)
    # Then the second changes nothing: one task for the tick
    assert made is not None and again is None
    assert store.count_by_status()[models.Status.QUEUED] == 1


def test_a_tick_fired_again_after_the_schedule_was_made_anew_keeps_its_one_task(store):
    store.put_schedule(EVERY_MINUTE, NOW - 30)
    made = store.fire_schedule(*fire(store, "tick", NOW + 0.1), NOW + 0.1)
    # The schedule is deleted and made again: its next tick is the same one
    store.delete_schedule("tick")
    store.put_schedule(EVERY_MINUTE, NOW - 10)
    again = store.fire_schedule(*fire(store, "tick", NOW + 0.5), NOW + 0.5)
    # The key holds it to the task already made
    assert again == made
    assert store.count_by_status()[models.Status.QUEUED] == 1
    assert store.get_schedule("tick")["last_task_id"] == made


@pytest.mark.parametrize(("catch_up", "runs"), [("one", 1), ("none", 0)])
def test_after_hours_without_a_node_one_catch_up_run_or_none(store, catch_up, runs):
    spec = models.ScheduleSpec("hourly", "0 * * * *", "UTC", {"action": "report"}, True, catch_up)
    store.put_schedule(spec, NOW - 30)  # due at NOW
    later = NOW + 3 * 3600 + 20 * 60  # 08:00, 09:00, 10:00 and 11:00 were missed
    firing, row = fire(store, "hourly", later)
    store.fire_schedule(firing, row, later)
    assert store.count_by_status()[models.Status.QUEUED] == runs
    assert store.get_schedule("hourly")["next_fire_at"] == NOW + 4 * 3600
    if runs:  # the latest missed tick
        assert store.find_by_key("schedule:hourly:2027-01-15T11:00:00Z") is not None


def test_an_every_minute_schedule_back_after_hours_runs_its_current_tick_even_without_catch_up(
    store,
):
    spec = models.ScheduleSpec("tick", "* * * * *", "UTC", {"action": "report"}, True, "none")
    store.put_schedule(spec, NOW - 30)
    later = NOW + 3 * 3600 + 20  # the tick of 11:00:00 is 20 s late: on time, not missed
    store.fire_schedule(*fire(store, "tick", later), later)
    assert store.count_by_status()[models.Status.QUEUED] == 1
    assert store.find_by_key("schedule:tick:2027-01-15T11:00:00Z") is not None


def test_a_disabled_schedule_is_never_due(store):
    spec = models.ScheduleSpec("tick", "* * * * *", task={"action": "x"}, enabled=False)
    store.put_schedule(spec, NOW - 30)
    assert store.due_schedules(NOW + 86_400) == []


def test_a_schedule_disabled_between_the_read_and_the_fire_fires_nothing(store):
    store.put_schedule(EVERY_MINUTE, NOW - 30)
    firing, row = fire(store, "tick", NOW + 0.1)
    off = models.ScheduleSpec("tick", "* * * * *", task={"action": "report"}, enabled=False)
    store.put_schedule(off, NOW + 0.05)
    assert store.fire_schedule(firing, row, NOW + 0.1) is None
    assert store.count_by_status()[models.Status.QUEUED] == 0


def test_a_trigger_makes_a_task_now_and_records_it(store):
    spec = models.ScheduleSpec("tick", "0 0 1 1 *", task={"action": "report", "queue": "q"})
    store.put_schedule(spec, NOW)
    row = models.schedule_task_row(store.get_schedule("tick")["task"], 3, 60.0)
    assert store.trigger_schedule("tick", row, NOW + 1) == row["id"]
    task = store.get_task(row["id"])
    assert (task["queue"], task["max_attempts"], task["timeout"]) == ("q", 3, 60.0)
    assert store.get_schedule("tick")["last_task_id"] == row["id"]
    with pytest.raises(models.TaskNotFound):
        store.trigger_schedule("gone", models.schedule_task_row({"action": "x"}, 3, None), NOW)


def test_the_template_gives_the_task_its_options():
    template = {
        "action": "report",
        "data": {"n": 1},
        "queue": "reports",
        "priority": 3,
        "timeout": 0,
        "max_attempts": 2,
        "notify": {"url": "https://example.com/hook"},
    }
    row = models.schedule_task_row(template, 5, 900.0, "schedule:r:2027-01-15T08:00:00Z")
    assert (row["queue"], row["priority"], row["max_attempts"]) == ("reports", 3, 2)
    assert row["timeout_seconds"] is None  # 0: no limit
    assert row["notify_url"] == "https://example.com/hook"
    assert row["idempotency_key"] == "schedule:r:2027-01-15T08:00:00Z"
    defaults = models.schedule_task_row({"action": "x"}, 5, 900.0)
    assert (defaults["max_attempts"], defaults["timeout_seconds"]) == (5, 900.0)
