"""Webhook deliveries in the store, on both backends: written with the final transition,
leased to one sender at a time, retried with backoff, ended by a 2xx, a 410 or a day."""

from __future__ import annotations

import random
import socket

import orjson
import pytest

import models
from tests.actors.helpers import a_dead_pid

NOW = 1_800_000_000.0
URL = "https://example.com/hook"


def notified(store, count: int = 1, max_attempts: int = 1) -> list[str]:
    options = models.TaskOptions(max_attempts=max_attempts, notify_url=URL)
    rows = [models.new_task("x", {}, options, now_ns=int((NOW - 10) * 1e9)) for _ in range(count)]
    store.enqueue(rows)
    return [row["id"] for row in rows]


def pending(store) -> dict[str, str]:
    """task id → event of each pending delivery."""
    cursor = store.db.execute_sql(
        "SELECT task_id, event FROM webhook_deliveries WHERE state = 'pending'"
    )
    return dict(cursor.fetchall())


def test_each_final_transition_writes_a_delivery_in_its_transaction(store):
    completed, dead, retrying, canceled, rescued = notified(store, 5)
    store.enqueue([models.new_task("x", {})])  # no notify: never a delivery
    store.cancel(canceled, "test", NOW)  # canceled while it waits
    claimed = {t.id: t for t in store.claim("owner", "node", 10, NOW, 30)}
    store.complete_many([(claimed[completed], "{}")], NOW)
    store.fail(claimed[dead], models.Failure("E: x"), NOW, 1, 1.0)
    store.fail(claimed[retrying], models.Failure("E: x"), NOW, 1, 1.0, permanent=False)
    assert store.get_task(retrying)["status"] == "dead"  # max_attempts 1
    # A task that will be retried writes none until it ends
    [again] = notified(store, max_attempts=3)
    [claimed_again] = store.claim("owner", "node", 1, NOW + 1, 30)
    store.fail(claimed_again, models.Failure("E: x"), NOW + 1, 3, 1.0)
    assert store.get_task(again)["status"] == "retrying"
    # The rescue of a dead owner's task on its last attempt
    owner = f"{socket.gethostname()}:{a_dead_pid()}"
    store.db.execute_sql(
        f"UPDATE tasks SET lease_owner = {store.db.param} WHERE id = {store.db.param}",
        (owner, rescued),
    )
    assert store.rescue(NOW, 1, [owner]) == [models.Rescued(rescued, models.Status.DEAD)]
    assert pending(store) == {
        completed: "completed",
        dead: "dead",
        retrying: "dead",
        canceled: "canceled",
        rescued: "dead",
    }


def test_a_delivery_is_leased_to_one_sender_at_a_time(store):
    notified(store, 3)
    for task in store.claim("owner", "node", 3, NOW, 30):
        store.complete_many([(task, '{"ok": true}')], NOW)
    first = store.claim_deliveries(2, NOW + 1)
    second = store.claim_deliveries(2, NOW + 1)
    assert len(first) == 2 and len(second) == 1
    assert {d.id for d in first}.isdisjoint({d.id for d in second})
    assert store.claim_deliveries(5, NOW + 2) == []
    # The body is the task as it ended; a sender that died leaves it due after the lease
    body = orjson.loads(first[0].body)
    assert (body["status"], body["result"], body["action"]) == ("completed", {"ok": True}, "x")
    again = store.claim_deliveries(5, NOW + 1 + 61)
    assert {d.id for d in again} == {d.id for d in first + second}
    assert again[0].body == next(d for d in first + second if d.id == again[0].id).body
    # The lapsed lease's holder can no longer record its try
    late = models.TryOutcome(first[0], NOW + 70, 200, 5.0)
    assert store.record_tries([late], NOW + 70) == {}


def complete_one(store) -> models.Delivery:
    [task_id] = notified(store)
    [task] = store.claim("owner", "node", 1, NOW, 30)
    store.complete_many([(task, "{}")], NOW)
    [delivery] = store.claim_deliveries(1, NOW)
    assert delivery.task_id == task_id
    return delivery


def test_failed_tries_back_off_from_seconds_to_an_hour_then_stop_after_a_day(store):
    delivery = complete_one(store)
    rng = random.Random(1)
    at = NOW
    waits = []
    while True:
        outcome = models.TryOutcome(delivery, at, 500, 12.0, "HTTP 500")
        state = store.record_tries([outcome], at, rng)[delivery.id]
        if state != "pending":
            break
        [delivery] = store.claim_deliveries(1, 10**12)  # whenever it is due next
        due = store.deliveries_of(delivery.task_id)[0]
        waits.append(due["tries"][-1]["at"])
        at = at + models.webhooks.retry_delay_seconds(delivery.tries, random.Random(0))
    assert state == "failed"
    [log] = store.deliveries_of(delivery.task_id)
    gaps = [b["at"] - a["at"] for a, b in zip(log["tries"], log["tries"][1:], strict=False)]
    assert 5 <= gaps[0] <= 5.5 and 10 <= gaps[1] <= 11  # the first retry within seconds
    assert max(gaps) <= 3600 * 1.1  # capped at an hour
    assert log["tries"][-1]["at"] - NOW <= 86_400  # no try past a day
    assert log["state"] == "failed" and log["tries"][0]["status_code"] == 500


@pytest.mark.parametrize(("code", "state"), [(200, "delivered"), (204, "delivered"), (410, "gone")])
def test_a_2xx_ends_the_deliveries_and_a_410_stops_them(store, code, state):
    delivery = complete_one(store)
    outcome = models.TryOutcome(delivery, NOW, code, 7.5)
    assert store.record_tries([outcome], NOW) == {delivery.id: state}
    [log] = store.deliveries_of(delivery.task_id)
    assert (log["state"], log["next_try_at"], log["finished_at"]) == (state, None, NOW)
    assert log["tries"] == [{"at": NOW, "status_code": code, "latency_ms": 7.5, "error": None}]
    assert store.claim_deliveries(5, NOW + 10**6) == []


def test_the_log_of_a_task_without_webhooks_is_empty_and_of_no_task_a_404(store):
    store.enqueue([row := models.new_task("x", {})])
    assert store.deliveries_of(row["id"]) == []
    with pytest.raises(models.TaskNotFound):
        store.deliveries_of("no-such-task")
