"""PostgreSQL: a claim alone commits without waiting for the WAL to reach the disk; every
other write (an enqueue, an outcome, an outcome with the next claim) waits as before,
and the claim's setting never outlives its transaction."""

from __future__ import annotations

import psycopg2
import pytest

import models
from models import Ending, Outcome, Status

from .sent_queries import RecordingCursor, recording_store  # noqa: F401 - the ``store`` fixture

NOW = 1_800_000_000.0
NO_FLUSH = b"set_config('synchronous_commit', 'off', true)"

pytestmark = pytest.mark.postgresql


def sent_by(step) -> list[bytes]:
    RecordingCursor.sent = []
    step()
    return list(RecordingCursor.sent)


def session_setting(store) -> str:
    return store.db.execute_sql("SHOW synchronous_commit").fetchone()[0]


def test_a_claim_alone_commits_without_waiting_for_the_disk_in_its_own_round_trip(store, pg_url):
    task = models.new_task("echo", {"n": 1})
    enqueue = sent_by(lambda: store.enqueue([task]))
    assert not any(NO_FLUSH in query for query in enqueue)
    claimed: list = []
    claim = sent_by(lambda: claimed.extend(store.claim("me", "n", 1, NOW, 30, ["default"])))
    # The setting goes with the claim's statement: no round trip is added
    (with_claim,) = [query for query in claim if NO_FLUSH in query]
    assert b"WITH picked AS" in with_claim or b"EXECUTE " in with_claim
    assert [c.id for c in claimed] == [task["id"]]
    # It is committed: another connection sees the task running
    other = psycopg2.connect(pg_url)
    try:
        cursor = other.cursor()
        cursor.execute("SELECT status FROM tasks WHERE id = %s", (task["id"],))
        assert cursor.fetchone() == (Status.RUNNING.value,)
    finally:
        other.close()
    # And the session's own setting is untouched once the transaction ends
    assert session_setting(store) == "on"


def test_outcomes_wait_for_the_disk_even_when_a_claim_goes_with_them(store):
    first, second = models.new_task("echo", {"n": 1}), models.new_task("echo", {"n": 2})
    store.enqueue([first, second])
    (claimed,) = store.claim("me", "n", 1, NOW, 30, ["default"])
    done = Outcome(claimed, Ending.COMPLETED, result_json="1", started_at=NOW, finished_at=NOW)
    request = models.ClaimRequest("me", "n", 1, ["default"], 30)
    settled: list = []
    queries = sent_by(lambda: settled.append(store.settle([done], NOW, request, node="n")))
    assert not any(NO_FLUSH in query for query in queries)
    assert settled[0].statuses == {first["id"]: Status.COMPLETED}
    assert [task.id for task in settled[0].claimed] == [second["id"]]
    assert session_setting(store) == "on"
