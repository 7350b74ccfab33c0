"""PostgreSQL's listener: it hears new tasks from every store but the ones its own store
was told its process wakes for itself (``tell_here=False``) and the ones their own process
starts at once (``tell_others=False``), and finished tasks from all."""

from __future__ import annotations

import time

import pytest

import models

pytestmark = pytest.mark.postgresql

HEAR_SECONDS = 10.0  # a notification committed is heard well within this


def heard_until(listener: models.Listener, marker: str) -> models.Heard:
    """Everything the listener hears up to the finished-task ``marker``: notifications
    of one connection arrive in the order they were committed, so whatever was
    committed before the marker has been heard by then."""
    heard = models.Heard()
    deadline = time.monotonic() + HEAR_SECONDS
    while marker not in heard.finished:
        assert time.monotonic() < deadline, f"{marker} not heard within {HEAR_SECONDS} s"
        more = listener.wait(HEAR_SECONDS)  # empty when all it heard was left out
        heard.new_tasks |= more.new_tasks
        heard.finished += more.finished
    return heard


def mark(store: models.Store, marker: str) -> None:
    with store.write_transaction():
        store._notify_finished([marker])


@pytest.fixture
def stores(pg_url):
    here, other = models.open_store(pg_url), models.open_store(pg_url)
    here.migrate()
    listener = here.open_listener()
    listener.connect()
    yield here, other, listener
    listener.close()
    here.close()
    other.close()


def test_its_own_stores_new_tasks_are_left_out_when_its_process_wakes_for_them(stores):
    here, _, listener = stores
    # When this process's store commits a task that the process wakes its dispatcher for
    here.enqueue([models.new_task("x", {})], tell_here=False)
    mark(here, "after-own")
    # Then its own listener does not wake it a second time
    heard = heard_until(listener, "after-own")
    assert not heard.new_tasks
    # But a task committed by the same store without that promise is heard
    here.enqueue([models.new_task("y", {})])
    mark(here, "after-told")
    assert heard_until(listener, "after-told").new_tasks


def test_another_stores_new_tasks_are_heard_whatever_it_promised_itself(stores):
    _, other, listener = stores
    # When another process commits a task it wakes its own dispatcher for
    other.enqueue([models.new_task("x", {})], tell_here=False)
    other.enqueue_each([[models.new_task("y", {})]], tell_here=False)
    mark(other, "after-other")
    # Then this process hears of it: its idle workers may take it
    assert heard_until(listener, "after-other").new_tasks


def test_nobody_hears_of_tasks_whose_own_process_starts_them_at_once(stores):
    _, other, listener = stores
    # When another process commits tasks that its own idle workers start at once
    other.enqueue([models.new_task("x", {})], tell_here=False, tell_others=False)
    other.enqueue_each([[models.new_task("y", {})]], tell_here=False, tell_others=False)
    mark(other, "after-taken")
    # Then this process is not woken for them: its claim would find nothing
    assert not heard_until(listener, "after-taken").new_tasks


class StartDefault:
    """``StartHere`` of a process whose idle workers serve only "default"."""

    def __init__(self) -> None:
        self.asked: list[tuple[int, set[str]]] = []
        self.handed: list[str] = []

    def claim_for(self, count: int, queues: set[str]) -> models.ClaimRequest | None:
        self.asked.append((count, queues))
        if queues != {"default"}:
            return None
        return models.ClaimRequest("me", "node-me", count, sorted(queues), 30.0)

    def hand_over(self, tasks: list[models.ClaimedTask]) -> None:
        self.handed += [task.id for task in tasks]


def test_the_intake_tells_others_only_what_its_process_cannot_start_at_once(stores):
    here, other, listener = stores
    start = StartDefault()
    intake = models.Intake(other, tell_here=False, start_here=start)
    try:
        # A task its idle workers take: claimed as it is stored, handed over, nobody told
        task = models.new_task("x", {})
        assert intake.accept([task]) is True
        mark(other, "after-default")
        assert not heard_until(listener, "after-default").new_tasks
        assert start.handed == [task["id"]]
        stored = here.get_task(task["id"])
        assert (stored["status"], stored["attempts"], stored["node"]) == ("running", 1, "node-me")
        # A queue its workers do not take: stored queued, and everyone hears
        mail = models.new_task("x", {}, models.TaskOptions(max_attempts=5, queue="mail"))
        assert intake.accept([mail]) is False
        mark(other, "after-mail")
        assert heard_until(listener, "after-mail").new_tasks
        assert here.get_task(mail["id"])["status"] == "queued"
        # A task due later: not its to start, everyone hears as before
        later = models.new_task("x", {}, models.TaskOptions(max_attempts=5, delay=60))
        assert intake.accept([later]) is False
        mark(other, "after-later")
        assert heard_until(listener, "after-later").new_tasks
    finally:
        intake.close()
    assert start.asked == [(1, {"default"}), (1, {"mail"})]
    assert start.handed == [task["id"]]
