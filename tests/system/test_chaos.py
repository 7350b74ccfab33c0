"""kill -9 chaos: ten kills of the real service on one SQLite file lose nothing.

Each round starts ``python run.py`` on the same database, two clients post
``record`` tasks (each appends ``key pid`` to an execution log as it starts,
then works a little), and the server is killed with SIGKILL at a moment
drawn from a seeded random generator: once it has just said it listens,
after it acknowledged some number of tasks, or after it started some number
of executions. Between rounds, with no process running, the test reads
which tasks the dead process held ``running``. A last clean run finishes
everything, and then the database and the execution log are checked.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import threading
from collections import Counter, defaultdict

import orjson
import pytest

from tests.web.client import wait_for

from .storage import stored_tasks
from .submitters import Submitters, wait_until_drained

pytestmark = pytest.mark.system

SEED = 20240905
ROUNDS = 10
TASK_SECONDS = 0.02  # each execution's work, so that kills find tasks mid-run
POSTS_PER_ROUND = 60  # both clients together; keeps the whole test to seconds
MAX_ATTEMPTS = ROUNDS + 2  # a task held at every kill still has an attempt left
TRIGGER_TIMEOUT_SECONDS = 30.0
DRAIN_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0


def test_ten_kill9_rounds_lose_nothing_and_rerun_only_interrupted_tasks(tmp_path, start_service):
    rng = random.Random(SEED)
    path = tmp_path / "chaos.db"
    db_url = f"sqlite:///{path}"
    execution_log = tmp_path / "executions.log"
    execution_log.touch()
    flags = (
        "--actions",
        "tests.system.cluster_actions",
        "--simulated-work",
        "0",
        "--max-attempts",
        str(MAX_ATTEMPTS),
        "--workers",
        "2",
        "--prefetch",
        "3",
    )
    env = {"TASKQUEUE_TEST_EXECUTION_LOG": str(execution_log)}

    def executions() -> list[tuple[str, int]]:
        lines = execution_log.read_text().splitlines()
        return [(key, int(pid)) for key, pid in (line.split() for line in lines)]

    round_of_key: dict[str, int] = {}
    accepted: dict[str, str] = {}  # task id → key, for every 202
    running_at_kill: dict[int, set[str]] = {}  # killed pid → ids it held running
    failures: list[tuple[int, bytes]] = []

    for round_number in range(ROUNDS):
        # Given: the service (re)started on the same file, and two clients posting
        service = start_service(db_url, *flags, env=env)
        pid = service.process.pid
        trigger = rng.choice(["listening", "accepted", "executed"])
        threshold = rng.randint(1, POSTS_PER_ROUND // 2)
        posted = Counter()
        posting = threading.Lock()
        enough = threading.Event()

        def make_task(thread, n, round_number=round_number, posted=posted, posting=posting):
            with posting:
                if sum(posted.values()) >= POSTS_PER_ROUND:
                    return None
                posted[thread] += 1
            key = f"r{round_number}-c{thread}-{n}"
            round_of_key[key] = round_number
            return {"action": "record", "data": {"key": key, "seconds": TASK_SECONDS}}

        def on_accept(count: int, threshold=threshold, enough=enough) -> None:
            if count >= threshold:
                enough.set()

        clients = Submitters(service.base_url, make_task, count=2, on_accept=on_accept)
        if trigger != "listening":
            clients.start()

        # When: kill -9 at the drawn moment
        if trigger == "accepted":
            assert enough.wait(TRIGGER_TIMEOUT_SECONDS), (
                f"round {round_number}: {len(clients.accepted)} of {threshold} 202s within "
                f"{TRIGGER_TIMEOUT_SECONDS}s; failures: {clients.failures}"
            )
        elif trigger == "executed":

            def executed_here(pid=pid) -> int:
                return sum(1 for _, ran_in in executions() if ran_in == pid)

            wait_for(
                lambda threshold=threshold: executed_here() >= threshold,
                TRIGGER_TIMEOUT_SECONDS,
                lambda round_number=round_number, threshold=threshold: (
                    f"round {round_number}: {threshold} executions; last seen: {executed_here()}"
                ),
            )
        service.kill()
        clients.join()

        # Then (between rounds): remember what the dead process held running
        failures += clients.failures
        for task_id, task in clients.accepted.items():
            accepted[task_id] = task["data"]["key"]
        at_kill = stored_tasks(db_url)
        running_at_kill[pid] = {
            task_id
            for task_id, row in at_kill.items()
            if row["status"] == "running" and row["lease_owner"].endswith(f":{pid}")
        }
        assert set(accepted) <= set(at_kill), "a task acknowledged with 202 is not stored"

    # When: a last, clean run lets everything finish, then stops gracefully
    final = start_service(db_url, *flags, env=env)
    wait_until_drained(final.base_url, DRAIN_TIMEOUT_SECONDS)
    final.signal(signal.SIGTERM)
    assert final.wait(STOP_TIMEOUT_SECONDS) == 0, final.log()

    # Then: no request failed, and every stored task (every 202 among them) completed
    assert not failures, failures
    rows = stored_tasks(db_url)
    assert set(accepted) <= set(rows)
    statuses = Counter(row["status"] for row in rows.values())
    assert statuses == Counter(completed=len(rows)), statuses
    key_of = {task_id: orjson.loads(row["payload"])["data"]["key"] for task_id, row in rows.items()}
    assert len(set(key_of.values())) == len(key_of), "a key was stored twice"
    assert all(key_of[task_id] == key for task_id, key in accepted.items())

    # And: each task ran again only after a kill that interrupted it
    runs: dict[str, list[int]] = defaultdict(list)
    for key, pid in executions():
        runs[key].append(pid)
    id_of = {key: task_id for task_id, key in key_of.items()}
    assert set(runs) == set(id_of), "an execution without a stored task, or a task never run"
    killed = set(running_at_kill)
    repeated = 0
    for key, pids in runs.items():
        task_id, row = id_of[key], rows[id_of[key]]
        *earlier, last = pids
        assert orjson.loads(row["result"])["pid"] == last, (key, pids)
        for pid in earlier:
            assert pid in killed, f"{key} ran twice though {pid} was never killed: {pids}"
            assert task_id in running_at_kill[pid], (
                f"{key} ran again though it was not running when {pid} was killed: {pids}"
            )
        assert len(set(earlier)) == len(earlier), f"{key} ran twice in one process: {pids}"
        kills_lived_through = ROUNDS - round_of_key[key]
        assert len(pids) <= kills_lived_through + 1, (key, pids)
        assert row["attempts"] >= len(pids), (key, row["attempts"], pids)
        repeated += bool(earlier)
    # The kills did interrupt running tasks, or this test would prove nothing
    assert repeated > 0, "no kill interrupted a running task"

    # And: the file is intact after ten kills
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        connection.close()
