"""PostgreSQL: the statements run for every task are prepared once per connection, then only
executed, in the same round trips as before; failures, reconnects and the cap leave no
statement pointing at a PREPARE the server does not have."""

from __future__ import annotations

import pytest

import models
from models import Ending, Outcome, Status, postgres_pipeline
from models.postgres_pipeline import numbered

from .sent_queries import RecordingCursor, record_queries, recording_store  # noqa: F401 - the ``store`` fixture

NOW = 1_800_000_000.0


def sent_by(step) -> bytes:
    RecordingCursor.sent = []
    step()
    return b"\n".join(RecordingCursor.sent)


def prepared_on_server(store) -> set[str]:
    rows = store.db.execute_sql("SELECT statement FROM pg_prepared_statements").fetchall()
    return {row[0] for row in rows}


def one_task_through(store, n: int) -> str:
    """Enqueue, claim and complete one task; returns its id."""
    task = models.new_task("echo", {"n": n})
    store.enqueue([task])
    (claimed,) = store.claim("me", "n", 1, NOW, 30, ["default"])
    done = Outcome(claimed, Ending.COMPLETED, result_json="1", started_at=NOW, finished_at=NOW)
    store.settle([done], NOW, node="n")
    return task["id"]


@pytest.mark.postgresql
def test_a_tasks_statements_are_prepared_once_then_only_executed(store):
    first = sent_by(lambda: one_task_through(store, 1))
    assert first.count(b"PREPARE ") >= 6  # insert, claim, complete, history, counts, stats…
    again = sent_by(lambda: one_task_through(store, 2))
    assert b"PREPARE " not in again
    assert again.count(b"EXECUTE ") == first.count(b"PREPARE ")
    assert len(RecordingCursor.sent) == 6  # two round trips each, as before
    server = " ".join(prepared_on_server(store))
    for part in ("INSERT INTO tasks", "WITH picked AS", "UPDATE tasks SET status = 'completed'"):
        assert part in server
    # And the prepared statements did what the plain ones did
    for task_id in (ids := [row[0] for row in store.db.execute_sql("SELECT id FROM tasks")]):
        assert store.get_task(task_id)["status"] == Status.COMPLETED
    assert len(ids) == 2
    kinds = [event["kind"] for event in store.events_of(ids[0])]
    assert kinds == ["created", "claimed", "started", "completed"]


@pytest.mark.postgresql
def test_a_failed_query_that_carried_a_prepare_prepares_again_next_time(store):
    sql = "INSERT INTO queues (name) VALUES (%s) ON CONFLICT (name) DO NOTHING"
    with pytest.raises(models.StorageError), store.write_transaction():
        store._write_later(sql, ("first",))  # held, with its PREPARE
        store.db.execute_sql("SELECT * FROM no_such_table")  # sent with it, and fails
    # Whether or not the server kept that PREPARE, the next use prepares under a new name
    sent = sent_by(lambda: store._write_later(sql, ("second",)))
    assert b"PREPARE " in sent
    names = {row[0] for row in store.db.execute_sql("SELECT name FROM queues").fetchall()}
    assert "second" in names and "first" not in names


@pytest.mark.postgresql
def test_a_statement_whose_parameters_cannot_bind_is_not_left_half_prepared(store):
    sql = "INSERT INTO queues (name) VALUES (%s) ON CONFLICT (name) DO NOTHING"
    with pytest.raises(Exception, match="adapt"):  # noqa: PT011 - psycopg2's own error
        store.db.execute_prepared(sql, (object(),))  # outside a transaction: nothing undone
    store.db.execute_prepared(sql, ("ok",))
    assert ("ok",) in store.db.execute_sql("SELECT name FROM queues").fetchall()


@pytest.mark.postgresql
def test_a_new_connection_prepares_again(store):
    one_task_through(store, 1)
    assert prepared_on_server(store)
    store.discard_connection()  # as after a lost connection
    record_queries(store)
    assert prepared_on_server(store) == set()
    sent = sent_by(lambda: one_task_through(store, 2))
    assert b"PREPARE " in sent
    assert (
        store.db.execute_sql("SELECT count(*) FROM tasks WHERE status = 'completed'").fetchone()[0]
        == 2
    )


@pytest.mark.postgresql
def test_a_connection_keeps_only_the_most_recently_used_statements(store, monkeypatch):
    monkeypatch.setattr(postgres_pipeline, "PREPARED_MAX", 2)
    statements = [f"SELECT %s::int + {n}" for n in range(3)]
    for sql in statements:
        assert store.db.execute_prepared(sql, (1,)).fetchone()[0] == 1 + int(sql[-1])
    # The oldest was forgotten here, and is deallocated on the server with the next query
    store.db.execute_prepared(statements[2], (1,))
    server = prepared_on_server(store)
    assert len(server) == 2 and not any(s.endswith("+ 0") for s in server)
    # Used again, it is prepared again
    assert store.db.execute_prepared(statements[0], (5,)).fetchone()[0] == 5


@pytest.mark.postgresql
def test_a_statement_with_a_tuple_or_an_unknown_percent_sequence_runs_unprepared(store):
    rows = store.db.execute_prepared("SELECT %s IN %s", (1, (1, 2))).fetchone()
    assert rows == (True,)
    assert prepared_on_server(store) == set()


def test_placeholders_are_numbered_as_prepare_takes_them():
    assert numbered("a = %s AND b LIKE 'x%%' AND c = %s") == "a = $1 AND b LIKE 'x%' AND c = $2"
    assert numbered("SELECT 1") == "SELECT 1"
    assert numbered("a = %(name)s") is None
    assert numbered("a = %d") is None


@pytest.mark.postgresql
def test_a_batch_is_sent_as_it_is(store):
    # Its rows share its planning already, and each size would be a statement of its own
    rows = [models.new_task("echo", {"n": n}) for n in range(postgres_pipeline.PREPARED_MAX_PARAMS)]
    sent = sent_by(lambda: store.enqueue(rows))
    assert b"INSERT INTO tasks" in sent and b"PREPARE " not in sent.split(b"INSERT INTO tasks")[0]
    assert not any("INSERT INTO tasks" in s for s in prepared_on_server(store))
    assert store.count_by_status()[Status.QUEUED] == len(rows)
