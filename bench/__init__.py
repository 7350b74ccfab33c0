"""The benchmark of issue 4: this service against Huey and Celery, side by side.

Run it from the repository root::

    python -m bench             # the full run (about 5 minutes on 2 cores)
    python -m bench --quick     # scaled down, under a minute
    python -m bench --only drain --stacks ours   # one scenario, e.g. under a profiler

It starts every process it needs on loopback ports (our ``run.py``, the
Huey consumer, the Celery worker, a private redis-server), stops each by its
PID, prints a table and writes ``BENCHMARKS.md``.
"""
