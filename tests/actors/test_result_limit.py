"""--max-result-bytes: a result over the limit fails its attempt, which is retried like
any failure, and nothing of it is stored (issue 12, "Bounded memory")."""

from __future__ import annotations

import orjson

from actors import Wake
from tests.web.client import wait_for

from .helpers import Latch, flush_workers, registry_with
from .test_supervisor import boot, enqueue

LIMIT_BYTES = 1000
BIG = {"blob": "x" * 2000}
HUGE = ["y" * 600, "z" * 600]


def too_large(result) -> str:
    return (
        f"ResultTooLarge: the result is {len(orjson.dumps(result))} bytes as JSON, over the "
        f"limit of {LIMIT_BYTES} (--max-result-bytes)"
    )


def test_a_result_over_the_limit_fails_its_attempt_which_is_retried(store, caplog):
    # Given: an action that returns 2,000 bytes of JSON the first two times, then a small one
    calls = Latch()

    def grows(data):
        calls.hit()
        if len(calls.items) <= 2:
            return BIG
        return {"ok": True}

    registry = registry_with(grows=grows)
    supervisor, service = boot(store, registry, max_attempts=3, max_result_bytes=LIMIT_BYTES)
    [task_id] = enqueue(store, "grows")
    service.dispatcher.tell(Wake())
    # When: it has run three times
    calls.wait(3)
    flush_workers()
    # Then: the two big results failed their attempts (retried), the small one completed
    task = store.get_task(task_id)
    assert (task["status"], task["attempts"]) == ("completed", 3)
    assert task["result"] == '{"ok":true}'
    failed = [r.getMessage() for r in caplog.records if r.getMessage().startswith("task failed")]
    assert len(failed) == 2
    for attempt, line in enumerate(failed, 1):
        assert f"attempt={attempt} error='{too_large(BIG)}'" in line


def test_a_result_always_over_the_limit_ends_dead_with_the_reason(store):
    registry = registry_with(huge=lambda data: HUGE)
    supervisor, service = boot(store, registry, max_attempts=2, max_result_bytes=LIMIT_BYTES)
    [task_id] = enqueue(store, "huge")
    service.dispatcher.tell(Wake())

    def dead() -> bool:
        flush_workers()
        return store.get_task(task_id)["status"] == "dead"

    wait_for(dead, message="the task to end dead")
    task = store.get_task(task_id)
    assert task["attempts"] == 2 and task["result"] is None
    assert task["error"] == too_large(HUGE)


def test_a_result_at_the_limit_is_kept(store):
    # '"' + 998 characters + '"' is exactly 1,000 bytes of JSON
    registry = registry_with(exact=lambda data: "x" * (LIMIT_BYTES - 2))
    supervisor, service = boot(store, registry, max_attempts=1, max_result_bytes=LIMIT_BYTES)
    [task_id] = enqueue(store, "exact")
    service.dispatcher.tell(Wake())

    def finished() -> bool:
        flush_workers()
        return store.get_task(task_id)["status"] in ("completed", "dead")

    wait_for(finished, message="the task to finish")
    task = store.get_task(task_id)
    assert task["status"] == "completed" and len(task["result"]) == LIMIT_BYTES
