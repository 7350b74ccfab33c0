"""Create a backlog of queued tasks while the stack's workers are stopped.

``python -m bench.seed ours|huey|celery|procrastinate --count N``
(``BENCH_WORKDIR`` and, for Celery, ``BENCH_REDIS_URL``, for ours on
PostgreSQL ``BENCH_DB_URL``, for procrastinate ``BENCH_PG_DSN`` in the
environment). Seeding is not measured; it runs in its own process so that the
benchmark's own process stays small and the models stay unbound there.

- ours on SQLite: ``store.enqueue(models.new_task(...) rows)`` into
  workdir/tasks.db, in transactions of ``OURS_CHUNK_ROWS``, exactly the rows
  POST would write;
- ours on PostgreSQL: ``bench.fill`` (SQL, the same columns and values) into
  the database ``run.py migrate`` made;
- procrastinate: its schema applied, then ``batch_defer`` in chunks;
- huey: the task function called N times (Huey's enqueue), with Huey's
  fsync off on this connection only;
- celery: ``apply_async`` N times over one producer.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid

OURS_CHUNK_ROWS = 10_000
ACTION = "echo"


def seed_ours(db_path: str, count: int) -> None:
    import models

    store = models.open_store(f"sqlite:///{db_path}")
    store.migrate()
    store.db.execute_sql("PRAGMA synchronous=OFF")  # this connection only; seeding is not measured
    for start in range(0, count, OURS_CHUNK_ROWS):
        rows = [
            models.new_task(ACTION, {"n": n})
            for n in range(start, min(count, start + OURS_CHUNK_ROWS))
        ]
        store.enqueue(rows)
    store.db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()


def seed_procrastinate(count: int) -> None:
    from bench.stacks import procrastinate_tasks

    procrastinate_tasks.apply_schema()
    if not count:
        return
    with procrastinate_tasks.app.open():
        for start in range(0, count, OURS_CHUNK_ROWS):
            procrastinate_tasks.process.batch_defer(
                *(
                    {"action": ACTION, "data": {"n": n}}
                    for n in range(start, min(count, start + OURS_CHUNK_ROWS))
                )
            )
    procrastinate_tasks.analyze()


def seed_huey(count: int) -> None:
    from bench.stacks import huey_tasks

    for n in range(count):
        huey_tasks.submit(str(uuid.uuid4()), ACTION, {"n": n})
    huey_tasks.huey.storage.close()


def seed_celery(count: int) -> None:
    from bench.stacks import celery_tasks

    with celery_tasks.app.producer_or_acquire() as producer:
        for n in range(count):
            task_id = str(uuid.uuid4())
            celery_tasks.process.apply_async(
                args=(task_id, ACTION, {"n": n}), task_id=task_id, producer=producer
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("stack", choices=["ours", "huey", "celery", "procrastinate"])
    parser.add_argument("--count", type=int, required=True)
    args = parser.parse_args()
    started = time.perf_counter()
    url = os.environ.get("BENCH_DB_URL", "")
    if args.stack == "ours" and url.startswith("postgres"):
        from bench import fill

        fill.fill(url, completed=0, queued=args.count)
    elif args.stack == "ours":
        seed_ours(os.path.join(os.environ["BENCH_WORKDIR"], "tasks.db"), args.count)
    elif args.stack == "procrastinate":
        seed_procrastinate(args.count)
    elif args.stack == "huey":
        seed_huey(args.count)
    else:
        seed_celery(args.count)
    print(f"seeded {args.count} {args.stack} tasks in {time.perf_counter() - started:.1f}s")


if __name__ == "__main__":
    main()
