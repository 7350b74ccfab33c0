"""Workers killed over and over by actions that raise ``KeyboardInterrupt`` and
``SystemExit``, while the tasks they crashed on are retried at once: no attempt is
claimed and then lost. Issue 12 saw one such attempt never start; it sat
``running`` until its lease expired and was charged as a run."""

from __future__ import annotations

import threading
from collections import Counter

import models
from actors import Boot, Flush, QueueConfig, Supervisor, Wake

from .helpers import WAIT_SECONDS, Latch, registry_with

TASKS = 120
# Per task, what each attempt does: crash the worker one way or another, then succeed.
PLANS = (
    (KeyboardInterrupt, None),
    (SystemExit, None),
    (KeyboardInterrupt, SystemExit, None),
    (ValueError, KeyboardInterrupt, None),
    (None,),
)


def test_crashing_workers_lose_no_claimed_attempt(store):
    runs: Counter[int] = Counter()
    lock = threading.Lock()
    succeeded = Latch()

    def crashy(data):
        n = data["n"]
        with lock:
            runs[n] += 1
            attempt = runs[n]
        raises = PLANS[n % len(PLANS)][attempt - 1]
        if raises is not None:
            raise raises("planned")
        succeeded.hit(n)
        return {"n": n}

    # Retries due at once and a long lease: an attempt lost would hold its task
    # ``running`` far past the wait below.
    config = QueueConfig(
        workers=2,
        prefetch=5,
        simulated_work_seconds=0,
        max_attempts=3,
        retry_backoff_seconds=0,
        lease_seconds=300,
        poll_interval_seconds=0.05,
    )
    # With the ticker, as in the service: polls, heartbeats, checks of the workers.
    supervisor = Supervisor.start(config, registry_with(crashy=crashy), store)
    service = supervisor.ask(Boot(), timeout=WAIT_SECONDS)
    rows = [
        models.new_task("crashy", {"n": n}, models.TaskOptions(max_attempts=3))
        for n in range(TASKS)
    ]
    store.enqueue(rows)
    service.dispatcher.tell(Wake())
    succeeded.wait(TASKS, timeout=60)
    service.dispatcher.ask(Flush(), timeout=WAIT_SECONDS)
    # Every task completed, charged exactly the attempts that ran, none rescued
    for n, row in enumerate(rows):
        task = store.get_task(row["id"])
        assert (task["status"], task["attempts"]) == ("completed", runs[n]), (n, task)
        kinds = [event["kind"] for event in store.events_of(row["id"])]
        assert "rescued" not in kinds, (n, kinds)
    supervisor.stop()
