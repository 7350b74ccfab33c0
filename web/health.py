"""/healthz, /readyz and /metrics: for probes and scrapers."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import cherrypy
import prometheus_client

import models

from .responses import json_body
from .router import Query

PING_TIMEOUT_SECONDS = 1.0  # readiness fails when the database takes longer to answer


@dataclass(frozen=True)
class Liveness:
    """How the web layer sees the rest of the process, without asking it anything."""

    actors_alive: Callable[[], bool]
    draining: Callable[[], bool]
    abandoned_threads: Callable[[], int]
    max_abandoned_threads: int


class Ping:
    """A read of the schema version on a thread of its own, bounded in time: a database
    that hangs makes a probe answer late by the timeout, never forever; while one ping
    still hangs, the next probe does not start another, and says so."""

    def __init__(self, store: models.Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._running: threading.Thread | None = None

    def __call__(self, timeout_seconds: float = PING_TIMEOUT_SECONDS) -> tuple[str | None, int]:
        """(None, the schema version) when the database answered in time, else (why
        not, 0)."""
        with self._lock:
            if self._running is not None and self._running.is_alive():
                return "the previous query has not returned yet", 0
            result: list = []
            self._running = threading.Thread(
                target=self._ping, args=(result,), name="readiness-ping", daemon=True
            )
            self._running.start()
            thread = self._running
        thread.join(timeout_seconds)
        if thread.is_alive():
            return f"the database did not answer within {timeout_seconds:g} s", 0
        return result[0] if result else ("the database failed", 0)

    def _ping(self, result: list) -> None:
        try:
            result.append((None, self._store.schema_version()))
        except models.StorageError as exc:
            self._store.discard_connection()
            result.append((f"the database failed: {exc}", 0))
        finally:
            self._store.close()


class HealthResource:
    def __init__(self, store: models.Store, liveness: Liveness) -> None:
        self.store = store
        self._liveness = liveness
        self._ping = Ping(store)

    def healthz(self, query: Query) -> bytes:
        """200 while the process's actors are alive; touches no database."""
        if self._liveness.actors_alive():
            return json_body({"status": "alive"})
        return json_body({"status": "dead", "error": "the actor system has stopped"}, 503)

    def readyz(self, query: Query) -> bytes:
        """200 when every check passes, else 503 naming each one that failed."""
        # The files first: while they are wrong, a new connection (the ping's) would
        # start a new -wal beside the deleted one.
        files = self.store.files_problem()
        database, version = ("not asked: its files are unsafe", 0) if files else self._ping()
        checks = {
            "migrations": None if database else self._migrations(version),
            "database": database,
            "database_files": files,
            "draining": "the node is stopping" if self._liveness.draining() else None,
            "abandoned_threads": self._abandoned(),
        }
        failing = {name: problem for name, problem in checks.items() if problem is not None}
        if failing:
            reasons = "; ".join(f"{name}: {problem}" for name, problem in failing.items())
            return json_body(
                {"status": "not ready", "failing": failing, "error": f"not ready: {reasons}"}, 503
            )
        return json_body({"status": "ready", "checks": {name: "ok" for name in checks}})

    @staticmethod
    def _migrations(version: int) -> str | None:
        if version != models.LATEST_VERSION:
            return f"schema version {version}, this code needs {models.LATEST_VERSION}"
        return None

    def _abandoned(self) -> str | None:
        alive = self._liveness.abandoned_threads()
        limit = self._liveness.max_abandoned_threads
        if alive > limit:
            return f"{alive} abandoned threads still run, more than {limit}: restart the node"
        return None

    def metrics(self, query: Query) -> bytes:
        """Prometheus' text format, from prometheus-client's default registry."""
        response = cherrypy.serving.response
        response.headers["Content-Type"] = prometheus_client.CONTENT_TYPE_LATEST
        return prometheus_client.generate_latest()
