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

SCHEDULES = 120  # enough that firing them all takes the leader a while
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


def test_a_leader_killed_while_it_fires_a_tick_leaves_exactly_one_task_per_schedule(cluster):
    # Given two nodes on PostgreSQL, A the leader, and schedules that all fire every minute
    a = cluster.start_node("node-a")
    wait_for_log(a, r"leadership acquired")
    b = cluster.start_node("node-b")
    for n in range(SCHEDULES):
        body = {"cron": "* * * * *", "task": {"action": "record", "data": {"key": f"s{n}"}}}
        response = request(b.base_url, "PUT", f"/schedules/s{n}", orjson.dumps(body), JSON)
        assert response.status == 201, response.body
    first_tick = request(b.base_url, "GET", "/schedules/s0").json()["next_fire_at"]
    # When A is killed -9 as soon as it has fired some of the tick's schedules
    wait_for(
        lambda: FIRED.search(a.log()),
        timeout=first_tick - time.time() + 15,
        message=lambda: f"the leader to fire its first schedule:\n{a.log()[-2000:]}",
    )
    a.kill()
    fired_by_a = {m.group(1) for m in FIRED.finditer(a.log())}
    # Then B takes over and fires the rest of that tick, late but within the grace
    wait_for_log(b, r"leadership acquired", timeout=20)

    def every_schedule_fired_the_tick():
        schedules = request(b.base_url, "GET", "/schedules").json()["schedules"]
        return all(s["last_fire_at"] == first_tick for s in schedules) or None

    wait_for(every_schedule_fired_the_tick, timeout=30, message="every schedule to fire the tick")
    fired_by_b = {m.group(1) for m in FIRED.finditer(b.log())}
    keys = stored_keys(cluster.db_url)
    tick, following = (
        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)) for t in (first_tick, first_tick + 60)
    )
    # Exactly one task per schedule for that tick, whichever leader made it
    assert sorted(keys) == sorted(f"s{n}" for n in range(SCHEDULES))
    for name, fire_times in keys.items():
        assert fire_times.count(tick) == 1, (name, fire_times)
        assert set(fire_times) <= {tick, following}, (name, fire_times)
    # And the kill did land mid-tick: each leader fired part of it
    assert fired_by_a and fired_by_a != {f"s{n}" for n in range(SCHEDULES)}, len(fired_by_a)
    assert fired_by_b - fired_by_a, "node B fired none of the schedules A had left"
