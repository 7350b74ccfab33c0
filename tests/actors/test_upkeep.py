"""The scheduler, the pruner and the deliverer, driven with the time a test chooses."""

from __future__ import annotations

import base64
import os
import socket
import threading
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import orjson
import pytest

import models
from actors import ActionRegistry, Leadership, QueueConfig, Tick
from actors.actions import Action, BadSchedule
from actors.maintenance import (
    AddressPolicy,
    Deliverer,
    Pruner,
    Scheduler,
    parse_secret,
    sign,
    webhook_http,
)

from .helpers import WAIT_SECONDS
from .receiver import Receiver

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
DAY = 86_400.0
BERLIN = ZoneInfo("Europe/Berlin")
SECRET = "whsec_" + base64.b64encode(b"a test secret of 32 bytes, ok!!!").decode()
LOOPBACK = AddressPolicy(["127.0.0.0/8"])


def leading() -> Leadership:
    leadership = Leadership()
    leadership.set(True)
    return leadership


# -- the scheduler ------------------------------------------------------------------------------


def test_the_scheduler_fires_only_on_the_leader_and_once_per_tick(store):
    store.put_schedule(models.ScheduleSpec("tick", "* * * * *", task={"action": "r"}), NOW - 30)
    follower = Scheduler.start(store, 1.0, QueueConfig(), leadership=Leadership())
    assert follower.ask(Tick(NOW + 1), timeout=WAIT_SECONDS) is None
    leader = Scheduler.start(store, 1.0, QueueConfig(max_attempts=7), leadership=leading())
    [fired] = leader.ask(Tick(NOW + 1), timeout=WAIT_SECONDS)
    assert (fired.name, fired.fire_at) == ("tick", NOW)
    assert leader.ask(Tick(NOW + 2), timeout=WAIT_SECONDS) == []
    task = store.get_task(fired.task_id)
    assert (task["action"], task["max_attempts"]) == ("r", 7)  # the leader's default


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        # spring: 02:30 does not exist that night; it runs once, at 03:00 (01:00 UTC)
        ((2026, 3, 29), [datetime(2026, 3, 29, 3, 0, tzinfo=BERLIN)]),
        # autumn: 02:30 comes twice that night; it runs once, the first time
        ((2026, 10, 25), [datetime(2026, 10, 25, 2, 30, tzinfo=BERLIN, fold=0)]),
    ],
)
def test_a_daylight_saving_night_neither_doubles_nor_skips_a_run(store, day, expected):
    # Given "30 2 * * *" in Berlin, and a scheduler ticked every 20 s of real time through
    # the night of the change
    spec = models.ScheduleSpec("nightly", "30 2 * * *", "Europe/Berlin", {"action": "r"})
    start = datetime(*day, 0, 0, tzinfo=BERLIN).timestamp()
    store.put_schedule(spec, start)
    scheduler = Scheduler.start(store, 1.0, QueueConfig(), leadership=leading())
    fired = []
    for moment in range(int(start), int(start + 6 * 3600), 20):
        fired += [f for f in scheduler.ask(Tick(float(moment)), timeout=WAIT_SECONDS) if f.task_id]
    # Then exactly one run, at the time Debian's cron would run it
    assert [f.fire_at for f in fired] == [moment.timestamp() for moment in expected]
    assert store.count_by_status()[models.Status.QUEUED] == 1


def test_the_scheduler_makes_the_schedules_actions_declare_at_start(store):
    registry = ActionRegistry(Action("*", lambda data: None))
    registry.register("report", lambda data: None, cron="0 * * * *")
    registry.register("plain", lambda data: None)
    scheduler = Scheduler.start(
        store, 1.0, QueueConfig(), registry.schedules(), leadership=Leadership()
    )
    scheduler.ask(Tick(NOW), timeout=WAIT_SECONDS)  # answered after on_start, which declares
    [schedule] = store.list_schedules()
    assert (schedule["name"], schedule["cron"], schedule["timezone"], schedule["task"]) == (
        "report",
        "0 * * * *",
        "UTC",
        {"action": "report"},
    )
    with pytest.raises(BadSchedule, match="cron"):
        registry.register("broken", lambda data: None, cron="every hour")


def test_back_after_a_day_the_scheduler_runs_one_catch_up_not_one_per_tick(store):
    store.put_schedule(models.ScheduleSpec("hourly", "0 * * * *", task={"action": "r"}), NOW - 30)
    scheduler = Scheduler.start(store, 1.0, QueueConfig(), leadership=leading())
    [fired] = scheduler.ask(Tick(NOW + DAY + 600), timeout=WAIT_SECONDS)
    assert fired.fire_at == NOW + DAY
    assert store.count_by_status()[models.Status.QUEUED] == 1


# -- the pruner ---------------------------------------------------------------------------------


def completed_at(store, at: float) -> str:
    row = models.new_task("x", {}, now_ns=int((at - 1) * 1e9))
    store.enqueue([row])
    [task] = store.claim("owner", "node", 1, at, 30)
    store.complete_many([(task, "{}")], at)
    return row["id"]


def test_the_pruner_deletes_on_the_leader_what_its_retention_lets_go(store):
    old = [completed_at(store, NOW - 8 * DAY) for _ in range(5)]
    young = completed_at(store, NOW - 6 * DAY)
    retention = {models.Status.COMPLETED: 7 * DAY, models.Status.DEAD: 0}
    follower = Pruner.start(store, 1.0, retention, Leadership())
    assert follower.ask(Tick(NOW), timeout=WAIT_SECONDS) is None
    pruner = Pruner.start(store, 1.0, retention, leading(), batch_rows=2)
    assert pruner.ask(Tick(NOW), timeout=WAIT_SECONDS) == {"completed": 5}
    assert [t["id"] for t in store.list_tasks()] == [young]
    assert all(pytest.raises(models.TaskNotFound, store.get_task, i) for i in old)


def test_a_retention_of_zero_keeps_for_ever(store):
    completed_at(store, NOW - 3650 * DAY)
    pruner = Pruner.start(store, 1.0, {models.Status.COMPLETED: 0}, leading())
    assert pruner.ask(Tick(NOW), timeout=WAIT_SECONDS) == {}
    assert len(store.list_tasks()) == 1


# -- the deliverer ------------------------------------------------------------------------------


def notified_and_completed(store, url: str) -> str:
    options = models.TaskOptions(max_attempts=1, notify_url=url)
    row = models.new_task("x", {"n": 1}, options, now_ns=int((NOW - 1) * 1e9))
    store.enqueue([row])
    [task] = store.claim("owner", "node", 1, NOW, 30)
    store.complete_many([(task, '{"out": 2}')], NOW)
    return row["id"]


def test_a_receiver_failing_twice_gets_the_third_try_signed_and_the_log_shows_all(store):
    answers = {0: (500, b"down"), 1: (503, b"busy")}
    with Receiver(SECRET, lambda n: answers.get(n, (200, b"thanks"))) as receiver:
        task_id = notified_and_completed(store, receiver.url)
        deliverer = Deliverer.start(store, 1.0, parse_secret(SECRET), LOOPBACK)
        # The first try at once, the second after 5 s, the third after 10 s more
        assert [o.status_code for o in deliverer.ask(Tick(NOW), timeout=WAIT_SECONDS)] == [500]
        assert deliverer.ask(Tick(NOW + 4), timeout=WAIT_SECONDS) == []
        assert [o.status_code for o in deliverer.ask(Tick(NOW + 6), timeout=WAIT_SECONDS)] == [503]
        assert deliverer.ask(Tick(NOW + 12), timeout=WAIT_SECONDS) == []
        assert [o.status_code for o in deliverer.ask(Tick(NOW + 18), timeout=WAIT_SECONDS)] == [200]
        assert deliverer.ask(Tick(NOW + 10**5), timeout=WAIT_SECONDS) == []
    # Every try was signed, with one webhook-id, and carried the task as it ended
    tries = receiver.received
    assert len(tries) == 3 and all(t.signed for t in tries)
    assert {t.headers["webhook-id"] for t in tries} == {f"msg_{task_id}_1"}
    assert len({t.body for t in tries}) == 1
    body = orjson.loads(tries[0].body)
    assert (body["id"], body["status"], body["result"]) == (task_id, "completed", {"out": 2})
    [log] = store.deliveries_of(task_id)
    assert log["state"] == "delivered"
    assert [t["status_code"] for t in log["tries"]] == [500, 503, 200]
    assert [t["at"] for t in log["tries"]] == [NOW, NOW + 6, NOW + 18]
    assert all(t["latency_ms"] > 0 for t in log["tries"])


def test_the_signature_is_the_standard_webhooks_one():
    # The example of the Standard Webhooks specification
    key = parse_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    assert sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}') == (
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )
    for bad in ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!", "whsec_c2hvcnQ="):
        with pytest.raises(ValueError):
            parse_secret(bad)


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
     "0.0.0.0", "224.0.0.1", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1"],
)  # fmt: skip
def test_private_loopback_and_link_local_addresses_are_refused(address):
    assert AddressPolicy().refusal(address) is not None
    assert AddressPolicy(["0.0.0.0/0", "::/0"]).refusal(address) is None


def test_a_public_address_is_allowed():
    assert AddressPolicy().refusal("93.184.216.34") is None
    assert AddressPolicy().refusal("2606:2800:220:1:248:1893:25c8:1946") is None


def test_the_check_is_made_after_dns_resolution_on_what_the_name_resolves_to(store):
    # A public-looking name that resolves to the metadata address is refused, and nothing
    # is sent; the try is logged and retried (DNS may change)
    with Receiver(SECRET) as receiver:

        def resolver(host: str, port: int) -> list[str]:
            return ["169.254.169.254"] if host == "hooks.example.com" else ["127.0.0.1"]

        answer = webhook_http.post(
            "http://hooks.example.com/x", b"{}", {}, AddressPolicy(), resolver=resolver
        )
        assert answer.status_code is None and "link-local" in answer.error
        # The loopback receiver itself is refused without --webhook-allow-net
        task_id = notified_and_completed(store, receiver.url)
        deliverer = Deliverer.start(store, 1.0, parse_secret(SECRET), AddressPolicy())
        [outcome] = deliverer.ask(Tick(NOW), timeout=WAIT_SECONDS)
        assert outcome.status_code is None and "loopback" in outcome.error
    assert receiver.received == []
    [log] = store.deliveries_of(task_id)
    assert log["state"] == "pending" and "allow-net" in log["tries"][0]["error"]


def test_the_connection_goes_to_the_checked_address_not_a_second_lookup():
    lookups = []
    with Receiver(SECRET) as receiver:

        def resolver(host: str, port: int) -> list[str]:
            lookups.append(host)
            return ["127.0.0.1"]

        url = f"http://hooks.example.com:{receiver.port}/hook"
        answer = webhook_http.post(url, b"{}", {}, LOOPBACK, resolver=resolver)
        assert answer.status_code == 200
    assert lookups == ["hooks.example.com"]
    assert receiver.received[0].headers["host"] == f"hooks.example.com:{receiver.port}"


def test_a_redirect_is_not_followed():
    redirect = (302, b"")
    with Receiver(SECRET, lambda n: redirect if n == 0 else (200, b"")) as receiver:
        answer = webhook_http.post(receiver.url, b"{}", {}, LOOPBACK)
    assert answer.status_code == 302
    assert len(receiver.received) == 1


def test_a_huge_answer_is_not_read_past_64_kib():
    huge = (200, b"x" * (8 * 1024 * 1024))
    with Receiver(SECRET, lambda n: huge) as receiver:
        started = time.monotonic()
        answer = webhook_http.post(receiver.url, b"{}", {}, LOOPBACK)
    assert answer.status_code == 200
    assert time.monotonic() - started < WAIT_SECONDS


def test_a_receiver_that_never_answers_times_out():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/slow"
        started = time.monotonic()
        answer = webhook_http.post(url, b"{}", {}, LOOPBACK, timeout_seconds=0.5)
        took = time.monotonic() - started
    assert answer.status_code is None and "timed out" in answer.error
    assert 0.4 <= took < 3


def test_a_receiver_that_trickles_its_headers_is_cut_at_the_deadline():
    # One header byte every 0.2 s: no single read times out, the whole try does
    stop = threading.Event()

    def trickle(listener: socket.socket) -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000:
                if stop.wait(0.2):
                    return
                try:
                    connection.send(bytes([byte]))
                except OSError:
                    return

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        thread = threading.Thread(target=trickle, args=(listener,), daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/trickle"
        started = time.monotonic()
        answer = webhook_http.post(url, b"{}", {}, LOOPBACK, timeout_seconds=1.0)
        took = time.monotonic() - started
        stop.set()
        thread.join(WAIT_SECONDS)
    assert answer.status_code is None and "timed out" in answer.error
    assert took < 3


def test_only_http_and_https_urls_are_tried():
    for url in ("ftp://example.com/x", "file:///etc/passwd", "gopher://x", "http://"):
        answer = webhook_http.post(url, b"{}", {}, AddressPolicy())
        assert answer.status_code is None and "http(s)" in answer.error


def test_a_secret_is_read_from_its_file_form(tmp_path):
    path = tmp_path / "secret"
    path.write_text(SECRET + "\n")
    assert parse_secret(path.read_text()) == b"a test secret of 32 bytes, ok!!!"
    assert os.path.getsize(path) > 0
