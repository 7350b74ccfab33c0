"""Exactly one task per tick on two real nodes on PostgreSQL, with the leader killed -9 while
it fires a tick."""

from __future__ import annotations

import re
import time

import orjson
import pytest

from tests.web.client import request, wait_for, wait_for_log

from .test_cluster import Cluster

pytestmark = [pytest.mark.system, pytest.mark.postgresql]

SCHEDULES = 120
BLOCKED = "s5"  # the schedule whose row the test holds: "s0" to "s49" (72 names) sort before it
JSON = {"Content-Type": "application/json"}
FIRED = re.compile(r"schedule fired name=(\S+) task_id=(\S+)")


@pytest.fixture
def cluster(start_service, pg_url, tmp_path) -> Cluster:
    return Cluster(start_service, pg_url, tmp_path / "executions.log")


def stored_keys(db_url: str) -> dict[str, list[str]]:
    """The idempotency keys of every task a schedule made, by schedule."""
    import models

    store = models.open_store(db_url)
    try:
        cursor = store.db.execute_sql(
            "SELECT idempotency_key FROM tasks WHERE idempotency_key LIKE %s", ("schedule:%",)
        )
        keys: dict[str, list[str]] = {}
        for (key,) in cursor.fetchall():
            _, name, fire_time = key.split(":", 2)
            keys.setdefault(name, []).append(fire_time)
        return keys
    finally:
        store.close()


def waiting_on(store) -> int:
    """How many sessions wait for a lock that ``store``'s own session holds."""
    cursor = store.db.execute_sql(
        "SELECT count(*) FROM pg_stat_activity WHERE pg_backend_pid() = ANY(pg_blocking_pids(pid))"
    )
    return cursor.fetchone()[0]


def test_a_leader_killed_while_it_fires_a_tick_leaves_exactly_one_task_per_schedule(cluster):
    import models

    # Given two nodes on PostgreSQL, A the leader, and schedules that all fire every minute
    a = cluster.start_node("node-a")
    wait_for_log(a, r"leadership acquired")
    b = cluster.start_node("node-b")
    for n in range(SCHEDULES):
        body = {"cron": "* * * * *", "task": {"action": "record", "data": {"key": f"s{n}"}}}
        response = request(b.base_url, "PUT", f"/schedules/s{n}", orjson.dumps(body), JSON)
        assert response.status == 201, response.body
    first_tick = request(b.base_url, "GET", "/schedules/s0").json()["next_fire_at"]
    # And a transaction of the test's own holding the row of BLOCKED: a leader fires the
    # schedules due at once by name, so A fires those before it and then waits there
    before_blocked = {f"s{n}" for n in range(SCHEDULES) if f"s{n}" < BLOCKED}
    blocker = models.open_store(cluster.db_url)
    try:
        blocker.db.begin()
        blocker.db.execute_sql("SELECT 1 FROM schedules WHERE name = %s FOR UPDATE", (BLOCKED,))
        # When A is killed -9 while it waits, in the middle of the tick
        wait_for(
            lambda: FIRED.search(a.log()) and waiting_on(blocker) >= 1,
            timeout=first_tick - time.time() + 15,
            message=lambda: f"the leader to fire part of the tick and wait:\n{a.log()[-2000:]}",
        )
        a.kill()
        # (A fired each schedule in a transaction of its own, committed before the next)
        fired_by_a = set(stored_keys(cluster.db_url))
        blocker.db.rollback()
    finally:
        blocker.close()
    assert fired_by_a == before_blocked, sorted(fired_by_a ^ before_blocked)
    # Then B takes over and fires the rest of that tick, late but within the grace
    wait_for_log(b, r"leadership acquired", timeout=20)

    def every_schedule_fired_the_tick():
        schedules = request(b.base_url, "GET", "/schedules").json()["schedules"]
        return all(s["last_fire_at"] == first_tick for s in schedules) or None

    wait_for(every_schedule_fired_the_tick, timeout=30, message="every schedule to fire the tick")
    keys = stored_keys(cluster.db_url)
    tick, following = (
        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)) for t in (first_tick, first_tick + 60)
    )
    # Exactly one task per schedule for that tick, whichever leader made it
    assert sorted(keys) == sorted(f"s{n}" for n in range(SCHEDULES))
    for name, fire_times in keys.items():
        assert fire_times.count(tick) == 1, (name, fire_times)
        assert set(fire_times) <= {tick, following}, (name, fire_times)
    # And B's log names the ones A had left (B fired them: they were not stored at the kill)
    wait_for(
        lambda: {m.group(1) for m in FIRED.finditer(b.log())} >= set(keys) - fired_by_a,
        message=lambda: f"node B to log the schedules A had left:\n{b.log()[-2000:]}",
    )
