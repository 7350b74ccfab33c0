"""Poison tasks over real HTTP: they end ``dead`` after --max-attempts, the rest keeps flowing.

The actions come from a user module (``tests/system/poison_actions.py``):
one raises an ordinary exception every time; two take their worker actor
down every time, with a ``BaseException`` subclass and with ``SystemExit``.
Then the failures that once looped forever: an exception whose ``str()``
raises, and error texts holding U+0000, which PostgreSQL cannot store.
"""

from __future__ import annotations

import re

import pytest

from tests.web.client import submit, wait_for, wait_for_log, wait_for_status, wait_until_all

pytestmark = pytest.mark.system

MAX_ATTEMPTS = 3
GOOD_TASKS = 40
FLAGS = (
    "--actions",
    "tests.system.poison_actions",
    "--max-attempts",
    str(MAX_ATTEMPTS),
    "--retry-backoff",
    "0",
    "--simulated-work",
    "0.01",
    "--workers",
    "2",
    "--prefetch",
    "5",
)
WAIT_SECONDS = 30.0
# action → (data, what its error must say)
POISON = {
    "always_fails": ({"text": "x"}, "ValueError: poisoned input x"),
    "kills_worker": ({"n": 7}, "WorkerPoison: poison pill 7"),
    "exits": ({}, "SystemExit: 3"),
}
CRASHING = ("kills_worker", "exits")


def test_poison_tasks_end_dead_and_never_take_the_service_down(db_url, start_service):
    service = start_service(db_url, *FLAGS)

    # Given: poison tasks submitted in the middle of a stream of good ones
    good: dict[str, int] = {}
    poisoned: dict[str, str] = {}
    for n in range(GOOD_TASKS):
        good[submit(service.base_url, "uppercase", {"text": f"good {n}"})] = n
        if n % 10 == 5 and len(poisoned) < len(POISON):
            action = list(POISON)[len(poisoned)]
            poisoned[action] = submit(service.base_url, action, POISON[action][0])

    # When: everything has reached an end state
    tasks = wait_until_all(service.base_url, [*good, *poisoned.values()], timeout=WAIT_SECONDS)

    # Then: every poison task is dead after exactly max_attempts, with its error
    for action, task_id in poisoned.items():
        task = tasks[task_id]
        assert (task["status"], task["attempts"]) == ("dead", MAX_ATTEMPTS), task
        assert POISON[action][1] in task["error"], task
        if action in CRASHING:
            assert "worker crashed" in task["error"], task
    # And: every good task completed with its result, on its one attempt (the ones
    # queued behind a crash in the dead worker's inbox were handed back, refunded)
    for task_id, n in good.items():
        task = tasks[task_id]
        assert task["status"] == "completed", task
        assert task["result"] == {"output": f"GOOD {n}"}
        assert task["attempts"] == 1, task
    # And: each crash replaced the worker, once per attempt of a crashing task
    for action in CRASHING:
        task_id = poisoned[action]
        pattern = rf"worker restarted .*task_id={task_id}"
        # The log reaches its file through a reader thread: wait for the lines, bounded
        wait_for(
            lambda pattern=pattern: len(re.findall(pattern, service.log())) >= MAX_ATTEMPTS,
            WAIT_SECONDS,
            lambda pattern=pattern, action=action: (
                f"{MAX_ATTEMPTS} restarts for {action}; last seen: "
                f"{len(re.findall(pattern, service.log()))}"
            ),
        )
        assert len(re.findall(pattern, service.log())) == MAX_ATTEMPTS

    # And: the process is still up, and still serves and runs tasks
    assert service.process.poll() is None, service.log()
    task_id = submit(service.base_url, "uppercase", {"text": "after the poison"})
    task = wait_for_status(service.base_url, task_id, ("completed", "dead"), WAIT_SECONDS)
    assert (task["status"], task["result"]) == ("completed", {"output": "AFTER THE POISON"})


# Poison that once looped forever: a failure that cannot be printed, or whose text
# PostgreSQL cannot store, must still end dead after max_attempts, like any other.
FAST_FLAGS = (
    "--actions",
    "tests.system.poison_actions",
    "--max-attempts",
    str(MAX_ATTEMPTS),
    "--retry-backoff",
    "0",
    "--simulated-work",
    "0",
)


def test_an_exception_that_cannot_be_printed_ends_dead(db_url, start_service):
    # Given: an action whose exception's str() raises
    service = start_service(db_url, *FAST_FLAGS)
    task_id = submit(service.base_url, "unprintable_error")
    # When / Then: it ends dead after max_attempts, as a failed attempt each time: an
    # ordinary exception never takes the worker down
    task = wait_until_all(service.base_url, [task_id], timeout=WAIT_SECONDS)[task_id]
    assert (task["status"], task["attempts"]) == ("dead", MAX_ATTEMPTS), task
    assert task["error"], task
    assert_logged_dead_without_a_restart(service, task_id)


def test_an_error_quoting_a_nul_character_ends_dead(db_url, start_service):
    # Given: a failing action whose message quotes input holding U+0000 (valid JSON "\u0000")
    service = start_service(db_url, *FAST_FLAGS)
    task_id = submit(service.base_url, "always_fails", {"text": "a\u0000b"})
    # When / Then: it ends dead with its error, as it does without the NUL
    task = wait_until_all(service.base_url, [task_id], timeout=WAIT_SECONDS)[task_id]
    assert (task["status"], task["attempts"]) == ("dead", MAX_ATTEMPTS), task
    assert task["error"].startswith("ValueError: poisoned input a"), task
    assert_logged_dead_without_a_restart(service, task_id)


def test_a_crash_message_quoting_a_nul_does_not_stop_the_node(db_url, start_service):
    # Given: an action that kills its worker with a message quoting U+0000 from its input
    service = start_service(db_url, *FAST_FLAGS)
    poisoned = submit(service.base_url, "kills_worker", {"n": "a\u0000b"})
    good = [submit(service.base_url, "uppercase", {"text": str(n)}) for n in range(5)]
    # When / Then: it ends dead after max_attempts, and the good tasks still run
    tasks = wait_until_all(service.base_url, [poisoned, *good], timeout=WAIT_SECONDS)
    assert (tasks[poisoned]["status"], tasks[poisoned]["attempts"]) == ("dead", MAX_ATTEMPTS)
    assert all(tasks[task_id]["status"] == "completed" for task_id in good), tasks
    # The dispatcher commits the crashed attempts; its line for the last one comes after
    # anything it could have logged on the way
    wait_for_log(service, rf"task dead task_id={poisoned} ", WAIT_SECONDS)
    assert "Unhandled exception in Dispatcher" not in service.log()


def assert_logged_dead_without_a_restart(service, task_id: str) -> None:
    """The task's last line is in the log (the dispatcher's "task dead" once the last
    outcome is committed), so every earlier line is too (the log reaches its file
    through a reader thread), and no worker was restarted."""
    wait_for_log(service, rf"task dead task_id={task_id} ", WAIT_SECONDS)
    log = service.log()
    assert "worker restarted" not in log, f"a worker was restarted:\n{log}"
