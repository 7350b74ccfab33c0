"""On PostgreSQL the database's clock decides every lease, heartbeat, rescue and due
time, so a node whose clock is an hour off takes over nothing that is alive and
delays nothing it accepts. Each node below is the ``now`` it passes: the real
time, or the real time an hour off."""

from __future__ import annotations

import random

import pytest

import models
from models import Failure, NodeInfo, Status, clock

pytestmark = pytest.mark.postgresql

HOUR = 3600.0
LEASE = 30.0
SLACK = 5.0  # how far two readings of "now" a test step apart may be


@pytest.fixture
def store(pg_url):  # not the shared fixture's: that one pins time
    opened = models.open_store(pg_url)
    opened.migrate()
    assert not opened.trust_caller_clock  # the database's clock, as in production
    yield opened
    opened.close()


def enqueue(store, now: float, **options) -> str:
    task_options = models.TaskOptions(max_attempts=3, **options) if options else None
    row = models.new_task("sum", {}, task_options, now_ns=int(now * 1e9))
    store.enqueue([row])
    return row["id"]


def lease(store, task_id: str) -> tuple[str, float]:
    cursor = store.db.execute_sql(
        "SELECT lease_owner, lease_expires_at FROM tasks WHERE id = %s", (task_id,)
    )
    return cursor.fetchone()


def database_now(store) -> float:
    return store.database_now(clock.now() + 12345.0)  # the argument is not what it reads


def test_the_database_clock_is_read_whatever_the_caller_says(store):
    assert abs(database_now(store) - clock.now()) < SLACK


def test_a_node_an_hour_ahead_rescues_no_live_lease_and_claims_no_running_task(store):
    task_id = enqueue(store, clock.now())
    [claimed] = store.claim("host-a:1", "a", 1, clock.now(), LEASE)
    owner, expires = lease(store, task_id)
    assert abs(expires - (database_now(store) + LEASE)) < SLACK
    # The fast node: every lease looks an hour expired by its clock
    ahead = clock.now() + HOUR
    assert store.rescue(ahead, max_attempts=3) == []
    assert store.claim("host-b:2", "b", 10, ahead, LEASE) == []
    assert lease(store, task_id)[0] == "host-a:1"
    # A heartbeat from a slow node extends the lease from the database's now, not its own
    assert store.heartbeat("host-a:1", [task_id], clock.now() - HOUR, LEASE) == 1
    owner, expires = lease(store, task_id)
    assert abs(expires - (database_now(store) + LEASE)) < SLACK
    assert claimed.attempts == 1


def test_a_task_accepted_by_a_node_an_hour_ahead_is_due_at_once(store):
    task_id = enqueue(store, clock.now() + HOUR)
    assert store.get_task(task_id)["status"] == "queued"
    # A node an hour behind claims it now: it is due by the database's clock
    [claimed] = store.claim("host-b:2", "b", 1, clock.now() - HOUR, LEASE)
    assert claimed.id == task_id


def test_a_delay_counts_from_the_database_clock(store):
    task_id = enqueue(store, clock.now() + HOUR, delay=30.0)
    task = store.get_task(task_id)
    assert task["status"] == "scheduled"
    assert abs(task["run_at"] - (database_now(store) + 30.0)) < SLACK
    # A fast node's stager moves nothing early; a slow node's claims nothing early
    assert store.stage(clock.now() + HOUR) == 0
    assert store.claim("host-b:2", "b", 1, clock.now() + HOUR, LEASE) == []


def test_a_retry_backoff_counts_from_the_database_clock(store):
    task_id = enqueue(store, clock.now())
    [task] = store.claim("host-a:1", "a", 1, clock.now(), LEASE)
    failure = Failure("ValueError: no", None)
    # Failed by a node an hour behind: due in about a second, not an hour ago
    assert store.fail(task, failure, clock.now() - HOUR, 3, 1.0, random.Random(1)) == (
        Status.RETRYING
    )
    run_at = store.get_task(task_id)["run_at"]
    assert database_now(store) < run_at < database_now(store) + 1.25 + SLACK


def test_a_node_behind_is_not_taken_for_lost(store):
    behind = clock.now() - HOUR
    store.record_node(NodeInfo("host-a:1", "a", "1", None, 2, 0, behind), behind)
    [node] = store.nodes(clock.now() + HOUR, lost_after_seconds=90)
    assert node["state"] == "alive"
    assert abs(node["last_seen"] - database_now(store)) < SLACK
    assert store.prune_nodes(clock.now() + HOUR, unseen_seconds=90) == 0


def test_a_leader_an_hour_ahead_fires_no_schedule_early(store):
    from actors import QueueConfig, Tick
    from actors.maintenance import Leadership, Scheduler

    now = database_now(store)
    store.put_schedule(models.ScheduleSpec("hourly", "0 * * * *", task={"action": "r"}), now)
    leading = Leadership()
    leading.set(True)
    scheduler = Scheduler.start(store, 1.0, QueueConfig(), leadership=leading)
    try:
        # Its clock says the next hour has come; the database's says it has not
        assert scheduler.ask(Tick(clock.now() + HOUR), timeout=10) == []
        [schedule] = store.list_schedules()
        assert schedule["last_task_id"] is None
    finally:
        scheduler.stop()
