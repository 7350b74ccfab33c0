"""The claim reads its index at any backlog size: shown with the database's own plan."""

from __future__ import annotations

import models

BACKLOG = 20_000  # finished rows around a due backlog: a scan would be chosen without the index
DUE = 2_000


def fill(store) -> None:
    rows = [models.new_task("x", {"n": n}) for n in range(BACKLOG)]
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


def test_the_claim_reads_the_due_index_not_the_table(store):
    fill(store)
    plan = store.explain_claim(limit=10, now=4e9)
    assert "tasks_due" in plan, plan
    assert "SCAN tasks\n" not in plan + "\n" and "Seq Scan" not in plan, plan
    assert "TEMP B-TREE" not in plan.upper(), plan  # no sort of the backlog either
    # And the claim works on that table
    assert len(store.claim("h:1", "n", 10, 4e9, 30)) == 10


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
