"""The benchmark of issues 4 and 14: this service against its peers, side by side.

Run it from the repository root::

    python -m bench                  # SQLite: ours, Huey, Celery, physical (about 7 minutes)
    python -m bench --quick          # the same scaled down, about a minute
    python -m bench --db postgresql  # PostgreSQL: ours, procrastinate, Celery, physical
    python -m bench --db all         # both; the only run that writes BENCHMARKS.md
    python -m bench --scale 10m --db all   # ours on a 10,000,000-row table
    python -m bench --only drain --stacks ours   # one scenario, e.g. under a profiler

It starts every process it needs on loopback ports (our ``run.py``, the
Huey consumer, Celery and procrastinate workers, a private redis-server),
creates a scratch ``bench_…`` database per stack on the PostgreSQL server,
stops each process by its PID, prints the tables and writes the report.
"""
