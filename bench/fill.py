"""Fill the service's ``tasks`` table fast, in SQL, with rows shaped as the service writes them.

Used to seed large tables (``--scale``, and every PostgreSQL backlog). The
service must have migrated the database first (``run.py migrate``). Only
these columns are named, so that columns a later migration adds keep their
defaults: id, payload, status, created_at, action, attempts, enqueued_ns,
run_at, and result and processed_at for completed rows.

The rows are made by the database itself, a chunk per transaction
(``generate_series`` on PostgreSQL, a recursive CTE on SQLite), so 10,000,000
rows take minutes. ``completed`` older rows come first, then ``queued`` newer
ones, due now, one row per millisecond of ``created_at`` order. Ids are
version 7 UUIDs as the service makes them (``models/ids.py``): the row's
millisecond first, then bits that differ per row, so the indexes keyed by
the id grow at their end as they do in service.

Durability is relaxed on the filling connection only (``synchronous=OFF``,
``synchronous_commit=off``): the fill is not measured. On PostgreSQL the
table is then vacuumed and analysed, as autovacuum would soon do after a
load this size.
"""

from __future__ import annotations

import argparse
import sqlite3
import time
from collections.abc import Callable

CHUNK_ROWS = 250_000  # rows per transaction
TASKS_PER_SECOND = 1000  # created_at spacing of the filled rows
ACTION = "echo"
RESULT_JSON = '{"output":"processed"}'
SQLITE_CACHE_KIB = 2 * 1024 * 1024  # 2 GiB of page cache for the filling connection

_PG_INSERT = f"""
INSERT INTO tasks (id, payload, status, created_at, action, attempts, enqueued_ns, run_at,
                   result, processed_at)
SELECT id,
       '{{"id":"' || id || '","action":"{ACTION}","data":{{"n":' || g || '}},"created_at":'
           || c || '}}',
       %(status)s, c, '{ACTION}', %(attempts)s, %(base_ns)s + g * 1000000, c::float8,
       %(result)s, CASE WHEN %(completed)s THEN c + 1 END
FROM (SELECT substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-7' || substr(r, 1, 3) || '-8'
                 || substr(r, 4, 3) || '-' || lpad(to_hex(g), 12, '0') AS id, g, c
      FROM (SELECT lpad(to_hex(%(base_ms)s + g), 12, '0') AS h, md5(g::text) AS r, g,
                   %(base_s)s + g / {TASKS_PER_SECOND} AS c
            FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS g OFFSET 0) AS t) AS s
"""

# The id: the row's millisecond (BASE_MS + g) in 48 bits, version 7, scrambled bits of g
# in the 12 after the version and the 14 after the variant, g itself last.
_SQLITE_ID = (
    "printf('%08x-%04x-7%03x-%04x-%012x', (BASE_MS + g) >> 16, (BASE_MS + g) & 65535, "
    "(g * 40503) % 4096, 32768 + (g * 2654435761) % 16384, g)"
)
_SQLITE_INSERT = f"""
WITH RECURSIVE s(g) AS (SELECT ? UNION ALL SELECT g + 1 FROM s WHERE g < ?)
INSERT INTO tasks (id, payload, status, created_at, action, attempts, enqueued_ns, run_at,
                   result, processed_at)
SELECT {_SQLITE_ID},
       '{{"id":"' || {_SQLITE_ID} || '","action":"{ACTION}","data":{{"n":' || g
           || '}},"created_at":' || (? + g / {TASKS_PER_SECOND}) || '}}',
       ?, ? + g / {TASKS_PER_SECOND}, '{ACTION}', ?, ? + g * 1000000,
       CAST(? + g / {TASKS_PER_SECOND} AS REAL), ?,
       CASE WHEN ? THEN ? + g / {TASKS_PER_SECOND} + 1 END
FROM s
"""


def _chunks(completed: int, queued: int):
    """(first g, last g, status) chunks: completed rows first, then queued."""
    g = 1
    for count, status in ((completed, "completed"), (queued, "queued")):
        end = g + count
        while g < end:
            hi = min(end, g + CHUNK_ROWS) - 1
            yield g, hi, status
            g = hi + 1


def _bases(total: int) -> tuple[int, int]:
    """created_at of row 0, so the newest row is about now; and enqueued_ns of row 0."""
    base_s = int(time.time()) - total // TASKS_PER_SECOND - 1
    return base_s, base_s * 1_000_000_000


def fill_postgresql(url: str, completed: int, queued: int, progress: Callable[[int], None]) -> None:
    from bench import pg

    base_s, base_ns = _bases(completed + queued)
    conn = pg.connect(url, autocommit=False)
    try:
        with conn.cursor() as cur:
            cur.execute("SET synchronous_commit = off")
            for lo, hi, status in _chunks(completed, queued):
                done = status == "completed"
                cur.execute(
                    _PG_INSERT,
                    {
                        "status": status,
                        "attempts": 1 if done else 0,
                        "base_ns": base_ns,
                        "result": RESULT_JSON if done else None,
                        "completed": done,
                        "base_s": base_s,
                        "base_ms": base_ns // 1_000_000,
                        "lo": lo,
                        "hi": hi,
                    },
                )
                conn.commit()
                progress(hi)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("VACUUM (ANALYZE) tasks")
    finally:
        conn.close()


def fill_sqlite(path: str, completed: int, queued: int, progress: Callable[[int], None]) -> None:
    base_s, base_ns = _bases(completed + queued)
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        conn.execute("PRAGMA synchronous=OFF")  # this connection only
        conn.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        for lo, hi, status in _chunks(completed, queued):
            done = status == "completed"
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                _SQLITE_INSERT.replace("BASE_MS", str(base_ns // 1_000_000)),
                (
                    lo,
                    hi,
                    base_s,
                    status,
                    base_s,
                    1 if done else 0,
                    base_ns,
                    base_s,
                    RESULT_JSON if done else None,
                    1 if done else 0,
                    base_s,
                ),
            )
            conn.execute("COMMIT")
            progress(hi)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def fill(
    url: str, completed: int, queued: int, progress: Callable[[int], None] = lambda rows: None
) -> float:
    """Insert the rows into the migrated database at ``url``; returns the seconds it took."""
    started = time.perf_counter()
    if url.startswith("sqlite:///"):
        fill_sqlite(url[len("sqlite:///") :], completed, queued, progress)
    else:
        fill_postgresql(url, completed, queued, progress)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fill")
    parser.add_argument("url", help="sqlite:///path or postgresql://… of a migrated database")
    parser.add_argument("--completed", type=int, default=0)
    parser.add_argument("--queued", type=int, default=0)
    args = parser.parse_args()
    total = args.completed + args.queued
    started = time.perf_counter()

    def progress(rows: int) -> None:
        print(f"  {rows:,} of {total:,} rows, {time.perf_counter() - started:.0f}s", flush=True)

    seconds = fill(args.url, args.completed, args.queued, progress)
    print(f"filled {total} rows in {seconds:.1f}s")


if __name__ == "__main__":
    main()
