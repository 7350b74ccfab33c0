"""PostgreSQL transactions in fewer round trips: BEGIN goes with the first statement, and
writes nobody reads go with the next statement or the COMMIT, with the same effects."""

from __future__ import annotations

import pytest

import models
from models import Ending, Outcome, Status

from .sent_queries import RecordingCursor, recording_store  # noqa: F401 - the ``store`` fixture

pytestmark = pytest.mark.postgresql

NOW = 1_800_000_000.0


def round_trips(store, step) -> int:
    RecordingCursor.sent = []
    step()
    return len(RecordingCursor.sent)


def test_enqueue_claim_and_settle_take_two_round_trips_each(store):
    task = models.new_task("echo", {"n": 1})
    # An enqueue: BEGIN and the INSERT, then the queue, the NOTIFY and COMMIT
    assert round_trips(store, lambda: store.enqueue([task])) == 2
    claimed: list[models.ClaimedTask] = []
    # A claim (of the queues the dispatcher names): BEGIN and the claim, then its history
    # and COMMIT
    claim = lambda: claimed.extend(store.claim("me", "n", 1, NOW, 30, ["default"]))  # noqa: E731
    assert round_trips(store, claim) == 2
    outcome = Outcome(
        claimed[0], Ending.COMPLETED, result_json="1", started_at=NOW, finished_at=NOW
    )
    # A settle: BEGIN and the UPDATE, then counts, history, stats, webhooks, NOTIFY and COMMIT
    assert round_trips(store, lambda: store.settle([outcome], NOW, node="n")) == 2
    # And everything the held writes did is there
    assert store.get_task(task["id"])["status"] == Status.COMPLETED
    kinds = [event["kind"] for event in store.events_of(task["id"])]
    assert kinds == ["created", "claimed", "started", "completed"]
    assert [state.name for state in store.queue_states()] == ["default"]


def test_a_statement_sees_the_writes_held_before_it_in_its_transaction(store):
    with store.write_transaction():
        store.count_finished({("q", Status.COMPLETED): 3}, "n")  # held
        seen = store.db.execute_sql(
            "SELECT count FROM finished_counts WHERE queue = 'q' AND node = 'n'"
        ).fetchone()
    assert seen == (3,)


def test_an_error_in_a_held_write_fails_and_undoes_its_whole_transaction(store):
    task = models.new_task("echo", {})
    with pytest.raises(models.StorageError), store.write_transaction():
        store.enqueue([task])  # nested: part of the transaction below
        store._write_later("INSERT INTO no_such_table VALUES (1)")
    with pytest.raises(models.TaskNotFound):
        store.get_task(task["id"])
    # And the connection is usable again
    store.enqueue([task])
    assert store.get_task(task["id"])["status"] == Status.QUEUED


def test_a_transaction_that_ran_nothing_sends_nothing(store):
    def empty():
        with store.write_transaction():
            pass

    assert round_trips(store, empty) == 0


def test_percent_signs_mean_what_they_meant(store):
    with store.write_transaction():
        store._write_later("INSERT INTO queues (name) VALUES (%s)", ("50%",))
        row = store.db.execute_sql(
            "SELECT name FROM queues WHERE name LIKE %s AND name LIKE '%%\\%%'", ("5%",)
        ).fetchone()
    assert row == ("50%",)
