"""The same POST/GET /tasks endpoints as our service, in front of Huey, Celery or procrastinate.

``python -m bench.stacks.web_app huey|celery|procrastinate --port P``
(``BENCH_WORKDIR``; for Celery ``BENCH_REDIS_URL`` and, on PostgreSQL,
``BENCH_RESULTS_URL``; for procrastinate ``BENCH_PG_DSN``, in the
environment). CherryPy is configured as
our ``web/app.py`` configures it (its thread count and socket queue, the
production environment, no access log), the limits are our service's own, and
every body passes the same checks (``web.validation``: strict JSON, the same
task rules), so the peers do the work our front end does:

- ``POST /tasks`` with ``{"action", "data"}`` → 202 ``{"id", "status": "queued"}``;
- ``POST /tasks`` with an array of up to 1,000 of them → 202
  ``{"tasks": [...], "count": N}``, all checked before any is enqueued;
- ``GET /tasks[?status=&limit=]`` → the results table, newest first.

A 202 means what the stack's enqueue call promises: for Huey the row is
committed in its SQLite file, for procrastinate in PostgreSQL, for Celery
the message is in Redis's memory. A batch goes to the library's own batch
enqueue where it has one (procrastinate's ``batch_defer``), else item by item.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import threading
import uuid
from typing import Any

import cherrypy
import orjson

import web
from bench.stacks import results
from models import InvalidInput
from web import app as web_app
from web.validation import check_batch, check_limit, check_status, check_task, parse_json

THREADS = web.DEFAULT_THREADS
SOCKET_QUEUE_SIZE = web_app.SOCKET_QUEUE_SIZE
MAX_BODY_BYTES = web.DEFAULT_MAX_BODY_BYTES


def _json(value: Any, status: int = 200) -> bytes:
    cherrypy.serving.response.status = status
    cherrypy.serving.response.headers["Content-Type"] = "application/json"
    return orjson.dumps(value)


def submitted(parsed: Any) -> list[tuple[str, dict[str, Any]]]:
    """``(action, data)`` of each task of a parsed body (one object or an array),
    checked as our service checks them; the peers take neither options nor keys."""
    tasks = check_batch(parsed) if isinstance(parsed, list) else [check_task(parsed)]
    return [(task.action, task.data) for task in tasks]


class Tasks:
    exposed = True

    def __init__(self, module, results_db: str) -> None:
        self._submit = module.submit
        self._submit_many = getattr(module, "submit_many", None)
        self._list = getattr(module, "list_results", None)
        self._results_db = results_db

    def POST(self, *path: str, **params: Any) -> bytes:
        body = cherrypy.serving.request.body.fp.read(MAX_BODY_BYTES + 1)
        if len(body) > MAX_BODY_BYTES:
            return _json({"error": "request body too large"}, 413)
        try:
            parsed = parse_json(body)
            checked = submitted(parsed)
        except InvalidInput as exc:
            return _json({"error": str(exc)}, 400)
        if isinstance(parsed, list) and self._submit_many is not None:
            ids = self._submit_many(checked)
        else:
            # A library that names its own ids (procrastinate's job ids) returns them.
            ids = [
                self._submit(task_id, action, data) or task_id
                for task_id, (action, data) in ((str(uuid.uuid4()), item) for item in checked)
            ]
        accepted = [{"id": task_id, "status": "queued"} for task_id in ids]
        if isinstance(parsed, list):
            return _json({"tasks": accepted, "count": len(accepted)}, 202)
        return _json(accepted[0], 202)

    def GET(self, *path: str, status: str | None = None, limit: str | None = None) -> bytes:
        try:
            status = check_status(status)
            count = check_limit(limit)
        except InvalidInput as exc:
            return _json({"error": str(exc)}, 400)
        if self._list is not None:
            tasks = self._list(status, count)
        else:
            tasks = results.list_results(self._results_db, status, count)
        return _json({"tasks": tasks, "count": len(tasks)})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("stack", choices=["huey", "celery", "procrastinate"])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    module = importlib.import_module(f"bench.stacks.{args.stack}_tasks")
    results_db = os.environ.get("BENCH_RESULTS_URL") or os.path.join(
        os.environ["BENCH_WORKDIR"], "results.db"
    )
    if args.stack == "procrastinate":
        module.app.open()  # a pool of synchronous connections for the request threads
    root = type("Root", (), {})()
    root.tasks = Tasks(module, results_db)
    config = {
        "/tasks": {
            "request.dispatch": cherrypy.dispatch.MethodDispatcher(),
            "request.process_request_body": False,
        }
    }
    cherrypy.tree.mount(root, "", config)
    cherrypy.config.update(
        {
            "server.socket_host": "127.0.0.1",
            "server.socket_port": args.port,
            "server.thread_pool": THREADS,
            "server.socket_queue_size": SOCKET_QUEUE_SIZE,
            "engine.autoreload.on": False,
            "checker.on": False,
            "log.screen": False,
            "environment": "production",
        }
    )
    cherrypy.log.access_log.propagate = False
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    cherrypy.engine.start()
    print(f"listening port={args.port}", flush=True)
    while not stop.wait(0.1):  # as run.py: the main thread stops the engine on SIGTERM
        pass
    cherrypy.engine.exit()


if __name__ == "__main__":
    main()
