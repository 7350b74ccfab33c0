"""The claim reads its index at any backlog size: shown with the database's own plan."""

from __future__ import annotations

import models

BACKLOG = 20_000  # finished rows around a due backlog: a scan would be chosen without the index
DUE = 2_000
QUEUES = ("default", "emails")


def fill(store) -> None:
    rows = [
        models.new_task(
            "x",
            {"n": n},
            models.TaskOptions(max_attempts=3, priority=n % 10, queue=QUEUES[n % 2]),
        )
        for n in range(BACKLOG)
    ]
    store.enqueue(rows)
    # Most of the table finished, as in a long-running service
    p = store.db.param
    with store.write_transaction():
        store.db.execute_sql(
            f"UPDATE tasks SET status = 'completed' WHERE id IN "
            f"(SELECT id FROM tasks ORDER BY enqueued_ns LIMIT {p})",
            (BACKLOG - DUE,),
        )
    store.db.execute_sql("ANALYZE")


def branch_lines(plan: str) -> list[str]:
    """The plan's lines that read the tasks (not the queues table, nor the merge)."""
    return [line for line in plan.splitlines() if "tasks" in line and "queues" not in line]


def test_the_claim_reads_the_due_index_in_its_order_for_one_queue_or_several(store):
    fill(store)
    for queues in (QUEUES[:1], QUEUES):
        plan = store.explain_claim(limit=10, now=4e9, queues=queues)
        # Each queue is read from the due index, in the claim's order: no scan, no sort of it
        reads = branch_lines(plan)
        assert reads and all("tasks_due" in line for line in reads), plan
        assert "Seq Scan on tasks" not in plan and "SCAN tasks" not in plan, plan
        if len(queues) == 1:
            assert "TEMP B-TREE" not in plan.upper() and "Sort" not in plan, plan
    # And the claim takes the best tasks of every queue: by priority, then due time
    claimed = store.claim("h:1", "n", 10, 4e9, 30, queues=QUEUES)
    assert len(claimed) == 10
    priorities = [store.get_task(task.id)["priority"] for task in claimed]
    assert priorities == sorted(priorities) and priorities[0] == 0


class _Rollback(Exception):
    pass


def test_without_the_index_the_claim_would_scan_or_not_run(store):
    # Given the same table, with the due index dropped (in a transaction rolled back after)
    fill(store)
    try:
        with store.write_transaction():
            store.db.execute_sql("DROP INDEX tasks_due")
            try:
                plan = store.explain_claim(limit=10, now=4e9)
            except models.StorageError as exc:
                plan = str(exc)
            raise _Rollback
    except _Rollback:
        pass
    # Then the claim either scans and sorts the table (PostgreSQL), or refuses to run
    # at all rather than silently do so (SQLite's INDEXED BY)
    assert "no such index" in plan or "Seq Scan" in plan or "Sort" in plan, plan
    # And the index is back
    assert "tasks_due" in store.explain_claim(limit=10, now=4e9)
