"""Helpers shared by the issue-5 system tests: client threads that post until told
to stop or until the server is gone, and the wait for a drained queue."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable
from typing import Any

from tests.web.client import list_tasks, post_json, wait_for

UNFINISHED = ("queued", "retrying", "running")  # in the order a drained check must read them


class Submitters:
    """``count`` client threads, each POSTing the tasks ``make_task(thread, n)`` one by one.

    A 202 is recorded as accepted (id → the task), any other status as a
    failure. A connection error means the server is gone (killed or stopped):
    that request was never acknowledged, and the thread ends. ``on_accept``
    runs after every 202 with the number accepted so far, under the lock.
    """

    def __init__(
        self,
        base_url: str,
        make_task: Callable[[int, int], dict[str, Any] | None],
        count: int = 2,
        on_accept: Callable[[int], None] | None = None,
    ) -> None:
        self._base_url = base_url
        self._make_task = make_task
        self._on_accept = on_accept or (lambda accepted: None)
        self.lock = threading.Lock()
        self.accepted: dict[str, dict[str, Any]] = {}
        self.failures: list[tuple[int, bytes]] = []
        self.unanswered: list[dict[str, Any]] = []  # posted when the connection broke
        self.stop = threading.Event()
        self._threads = [threading.Thread(target=self._post, args=(i,)) for i in range(count)]

    def start(self) -> Submitters:
        for thread in self._threads:
            thread.start()
        return self

    def join(self, timeout: float = 30.0) -> None:
        self.stop.set()
        for thread in self._threads:
            if thread.ident is None:
                continue  # never started
            thread.join(timeout)
            assert not thread.is_alive(), (
                f"a client thread is still waiting for an answer after {timeout}s; "
                f"{len(self.accepted)} accepted, {len(self.failures)} failed so far"
            )

    def _post(self, thread: int) -> None:
        n = 0
        while not self.stop.is_set():
            task = self._make_task(thread, n)
            if task is None:
                return
            try:
                response = post_json(self._base_url, task)
            except (OSError, http.client.HTTPException):
                with self.lock:
                    self.unanswered.append(task)
                return
            with self.lock:
                if response.status == 202:
                    self.accepted[response.json()["id"]] = task
                    self._on_accept(len(self.accepted))
                else:
                    self.failures.append((response.status, response.body))
                    return
            n += 1


def wait_until_drained(base_url: str, timeout: float) -> None:
    """Wait until no task is queued, retrying or running, as the API lists them.

    Read in this order, a task cannot slip past: with no new tasks and no
    rescue, a task only moves from queued or retrying to running, and from
    running to an end state.
    """

    def drained() -> bool:
        return all(
            list_tasks(base_url, status=status, limit=1)["count"] == 0 for status in UNFINISHED
        )

    def still_unfinished() -> str:
        counts = {
            status: list_tasks(base_url, status=status, limit=1000)["count"]
            for status in UNFINISHED
        }
        return f"no task queued, retrying or running; at the timeout (up to 1000 each): {counts}"

    wait_for(drained, timeout, still_unfinished)
