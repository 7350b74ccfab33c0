"""The storage contract for history and paging: the events each transition writes, pages
that stay stable, filters that read an index, idempotency keys, nodes, counts by minute."""

from __future__ import annotations

import re

import orjson
import pytest

import models
from models import Ending, Failure, Outcome, Status, TaskOptions, TaskQuery

NOW = 1_700_000_000.0
LEASE = 30.0


def add(store, count=1, at=NOW - 60, **options):
    options.setdefault("max_attempts", 3)
    rows = [
        models.new_task("job", {"n": n}, TaskOptions(**options), now_ns=int(at * 1e9))
        for n in range(count)
    ]
    store.enqueue(rows)
    return [row["id"] for row in rows]


def kinds(store, task_id):
    return [event["kind"] for event in store.events_of(task_id, now=NOW + 3600)]


def test_each_transition_writes_its_event_with_what_happened(store):
    [task_id] = add(store)
    [task] = store.claim("h:1", "node-a", 1, NOW, LEASE)
    started = NOW + 0.5
    store.settle(
        [
            Outcome(
                task,
                Ending.FAILED,
                failure=Failure("E: first"),
                started_at=started,
                finished_at=NOW + 1,
            )
        ],
        NOW + 1,
    )
    [again] = store.claim("h:1", "node-a", 1, NOW + 10, LEASE)
    store.set_progress(again, 0.5, "half", NOW + 11)
    store.settle(
        [
            Outcome(
                again,
                Ending.COMPLETED,
                result_json="{}",
                started_at=NOW + 10.5,
                finished_at=NOW + 12,
            )
        ],
        NOW + 12,
    )
    events = store.events_of(task_id, now=NOW + 20)
    assert [e["kind"] for e in events] == [
        "created",
        "claimed",
        "started",
        "failed",
        "claimed",
        "started",
        "progress",
        "completed",
    ]
    claimed, started_event, failed = events[1], events[2], events[3]
    assert (claimed["node"], claimed["attempt"]) == ("node-a", 1)
    assert started_event["waited_seconds"] == pytest.approx(60.5)
    assert (failed["error"], failed["then"], failed["attempt"]) == ("E: first", "retrying", 1)
    assert events[6]["fraction"] == 0.5 and events[6]["message"] == "half"
    assert events[7]["duration_seconds"] == pytest.approx(1.5)


def test_rescues_timeouts_releases_and_scheduling_are_recorded(store):
    [delayed] = add(store, run_at=NOW + 60, at=NOW)
    assert kinds(store, delayed)[:2] == ["created", "scheduled"]
    [rescued, timed, released] = add(store, 3)
    held = {t.id: t for t in store.claim("h:1", "n", 3, NOW, LEASE)}
    store.settle(
        [
            Outcome(held[timed], Ending.FAILED, failure=Failure("timed out after 5 s")),
            Outcome(held[released], Ending.UNSTARTED),
        ],
        NOW + 1,
    )
    store.rescue(NOW + LEASE + 1, 3)
    assert kinds(store, rescued)[-1] == "rescued"
    assert kinds(store, timed)[-1] == "timed_out"
    assert kinds(store, released)[-1] == "released"
    rescue = store.events_of(rescued)[-1]
    assert rescue["reason"] == "h:1 died or its lease expired" and rescue["then"] == "queued"


def test_a_lost_claim_writes_no_event(store):
    [task_id] = add(store)
    [stale] = store.claim("h:1", "n", 1, NOW, LEASE)
    store.rescue(NOW + LEASE + 1, 3)
    before = kinds(store, task_id)
    store.complete_many([(stale, "{}")], NOW + LEASE + 2)
    assert kinds(store, task_id) == before
    assert store.get_task(task_id)["status"] == "queued"


def test_created_is_the_time_the_task_was_accepted_to_the_millisecond(store):
    # Given: a task accepted 750 ms into a second
    [task_id] = add(store, at=NOW + 0.75)
    # Then: its history says so (the row's created_at, as in the reference, is 1700000000)
    [created] = [e for e in store.events_of(task_id) if e["kind"] == "created"]
    assert created["at"] == pytest.approx(NOW + 0.75, abs=0.001)
    assert store.get_task(task_id)["created_at"] == int(NOW)


def test_created_of_a_task_whose_id_tells_no_time_is_its_created_at(store):
    # Given: a row as the reference wrote it, with a uuid4 id
    row = models.new_task("job", {}, TaskOptions(3), now_ns=int((NOW + 0.75) * 1e9))
    row["id"] = "0b9f5c4e-8a43-4c59-9a3e-5d1f2b8f0c11"
    row["payload"] = orjson.dumps({**orjson.loads(row["payload"]), "id": row["id"]}).decode()
    store.enqueue([row])
    # Then: created is the row's whole second
    [created] = [e for e in store.events_of(row["id"]) if e["kind"] == "created"]
    assert created["at"] == NOW


def test_a_pause_while_the_task_was_due_is_in_its_history(store):
    [task_id] = add(store, queue="held", at=NOW)
    store.pause("held", "ops", NOW + 10)
    store.resume("held", "ops", NOW + 70)
    store.claim("h:1", "n", 1, NOW + 80, LEASE)
    [paused] = [e for e in store.events_of(task_id) if e["kind"] == "paused_while_due"]
    assert paused == {"at": NOW + 10, "kind": "paused_while_due", "by": "ops", "until": NOW + 70}
    # A pause before the task existed that ended before it was due does not show
    [later] = add(store, queue="held", at=NOW + 100)
    assert "paused_while_due" not in kinds(store, later)


def test_pages_go_on_after_the_last_row_and_new_tasks_never_shift_them(store):
    ids = add(store, 25)
    first = store.list_page(TaskQuery(limit=10))
    assert [t["id"] for t in first.tasks] == ids[::-1][:10]
    # New tasks arrive between pages: they are newer, on no later page
    add(store, 5, at=NOW)
    second = store.list_page(TaskQuery(limit=10, after=first.next))
    third = store.list_page(TaskQuery(limit=10, after=second.next))
    seen = [t["id"] for page in (first, second, third) for t in page.tasks]
    assert seen == ids[::-1]
    assert third.next is None


def test_filters_combine(store):
    a_jobs = add(store, 3, queue="a")
    add(store, 2, queue="b")
    other = models.new_task("other", {}, TaskOptions(3, queue="a"), now_ns=int((NOW - 30) * 1e9))
    store.enqueue([other])
    store.claim("h:1", "n", 1, NOW, LEASE, ["a"])  # a_jobs[0] runs

    def ids(**query):
        return [t["id"] for t in store.list_page(TaskQuery(**query)).tasks]

    assert ids(queue="a") == [other["id"], *a_jobs[::-1]]
    assert ids(queue="a", action="job") == a_jobs[::-1]
    assert ids(action="other") == [other["id"]]
    assert ids(queue="a", statuses=(Status.RUNNING,)) == [a_jobs[0]]
    assert ids(statuses=(Status.RUNNING, Status.QUEUED), queue="b") == ids(queue="b")
    assert ids(created_after=int(NOW - 30)) == [other["id"]]
    assert ids(created_before=int(NOW - 30), queue="a") == a_jobs[::-1]


def test_every_filter_reads_an_index(store):
    rows = [
        models.new_task(f"act{n % 5}", {}, TaskOptions(3, queue=f"q{n % 7}")) for n in range(5000)
    ]
    store.enqueue(rows)
    store.db.execute_sql("ANALYZE")
    for query in (
        TaskQuery(),
        TaskQuery(statuses=(Status.QUEUED,)),
        TaskQuery(statuses=(Status.QUEUED, Status.COMPLETED)),
        TaskQuery(queue="q3"),
        TaskQuery(action="act2"),
        TaskQuery(queue="q3", statuses=(Status.QUEUED,)),
        TaskQuery(created_after=0, created_before=4_000_000_000),
    ):
        sql, params = store._page_sql(query)
        text = store.explain(sql, params)
        assert "SCAN tasks\n" not in text + "\n" and "Seq Scan on tasks" not in text, (query, text)


# A page that steps over rows: a scan of the whole table or index (SQLite's "SCAN
# tasks", PostgreSQL's "Seq Scan"), or rows an index gives then filtered by status.
_STEPS_OVER = re.compile(r"SCAN tasks|Seq Scan on tasks|Filter: .*\bstatus = ")


def test_a_page_of_one_status_reads_only_that_status_however_the_rows_are_spread(store):
    """Most rows old and completed, the newest queued (a busy queue's table): a page
    of completed tasks must not step over every queued row to find them. With an
    index on creation time alone, PostgreSQL's planner read it newest first and
    filtered the status: 15 ms a page at 1,000,000 rows."""

    def made(count, at):
        return [
            models.new_task("job", {}, TaskOptions(3), now_ns=int(at * 1e9)) for _ in range(count)
        ]

    old, new = made(4500, NOW), made(500, NOW + 9)
    store.enqueue(old + new)
    store.db.execute_sql(f"UPDATE tasks SET status = 'completed' WHERE created_at < {NOW + 1}")
    store.db.execute_sql("ANALYZE")
    for query in (
        TaskQuery(statuses=(Status.COMPLETED,)),
        TaskQuery(statuses=(Status.COMPLETED,), limit=1000),
        TaskQuery(queue="default"),
        TaskQuery(action="job"),
        TaskQuery(queue="default", statuses=(Status.COMPLETED,), created_after=int(NOW)),
        *([] if store.pages_by_creation_index else [TaskQuery(), TaskQuery(limit=1000)]),
    ):
        text = store.explain(*store._page_sql(query))
        assert not _STEPS_OVER.search(text), (query, text)
    page = store.list_page(TaskQuery(statuses=(Status.COMPLETED,), limit=10))
    assert [t["id"] for t in page.tasks] == [t["id"] for t in old[::-1][:10]]


def test_listings_cut_big_fields_and_one_task_has_them_whole(store):
    big = {"blob": "x" * 10_000}
    [task_id] = add(store)
    row = models.new_task("big", big, TaskOptions(3))
    store.enqueue([row])
    listed = {t["id"]: t for t in store.list_tasks()}
    assert listed[row["id"]]["truncated"] is True
    assert len(listed[row["id"]]["payload"]) == models.reads.LISTED_TEXT_CHARS
    assert "truncated" not in listed[task_id]
    assert orjson.loads(store.get_task(row["id"])["payload"])["data"] == big


def test_an_idempotency_key_is_unique_and_found(store):
    first = models.new_task("job", {}, TaskOptions(3, idempotency_key="k1", request_hash="h1"))
    store.enqueue([first])
    assert store.find_by_key("k1") == {"id": first["id"], "status": "queued", "request_hash": "h1"}
    assert store.find_by_key("k2") is None
    again = models.new_task("job", {}, TaskOptions(3, idempotency_key="k1", request_hash="h1"))
    other = models.new_task("job", {}, TaskOptions(3))
    outcomes = store.enqueue_each([[again], [other]])
    assert isinstance(outcomes[0], models.Conflict) and outcomes[1] is None
    assert store.accepted_status(first["id"]) == "queued"


def test_nodes_are_alive_then_lost_then_pruned(store):
    info = models.NodeInfo("h:1", "node-a", "1.0", ("a", "b"), 2, 1, NOW - 100)
    store.record_node(info, NOW)
    [node] = store.nodes(NOW + 10, lost_after_seconds=90)
    assert (node["name"], node["state"], node["queues"], node["idle"]) == (
        "node-a",
        "alive",
        ["a", "b"],
        1,
    )
    [node] = store.nodes(NOW + 100, lost_after_seconds=90)
    assert node["state"] == "lost"
    assert store.prune_nodes(NOW + 1, unseen_seconds=2) == 0
    assert store.prune_nodes(NOW + 3, unseen_seconds=2) == 1
    assert store.nodes(NOW, 90) == []


def test_counts_by_minute_add_up_across_batches(store):
    ids = add(store, 3)
    held = store.claim("h:1", "n", 3, NOW, LEASE)
    store.settle(
        [Outcome(held[0], Ending.COMPLETED, result_json="{}", started_at=NOW + 1)],
        NOW + 2,
        node="n",
    )
    store.settle(
        [
            Outcome(held[1], Ending.COMPLETED, result_json="{}", started_at=NOW + 2),
            Outcome(held[2], Ending.FAILED, failure=Failure("E"), permanent=True),
        ],
        NOW + 3,
        node="n",
    )
    [minute] = store.minute_counts(NOW - 60)
    assert (minute["completed"], minute["failed"], minute["dead"]) == (2, 1, 1)
    assert minute["wait_mean_seconds"] == pytest.approx(61.5)
    assert {store.get_task(i)["status"] for i in ids} == {"completed", "dead"}
