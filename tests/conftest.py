"""Shared fixtures: the database (SQLite and PostgreSQL), actor cleanup, the real service.

PostgreSQL is the server named by ``TASKQUEUE_TEST_PG`` (default: the local
one, database ``taskqueue_test``). Without one, its tests skip with the
reason; with ``CI=true`` they fail instead, so CI cannot pass without them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pykka
import pytest

import models

REPO = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("TASKQUEUE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/taskqueue_test")
IN_CI = os.environ.get("CI", "").lower() == "true"
READY_TIMEOUT_SECONDS = 30.0
# Fixtures that start ``python run.py``: every test using one is a system test.
SERVICE_FIXTURES = frozenset({"service", "start_service"})


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by mark
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``system`` every test that uses a fixture starting the real service (the
    module-scoped ``service`` fixtures included), so ``-m "not system"`` never starts one."""
    for item in items:
        if SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.system)


_system_test_running = False


@pytest.hookimpl(tryfirst=True)  # before the test's fixtures are set up
def pytest_runtest_setup(item: pytest.Item) -> None:
    global _system_test_running
    _system_test_running = item.get_closest_marker("system") is not None


def _postgresql_unavailable_reason() -> str | None:
    try:
        import psycopg2
    except ImportError as exc:
        return f"psycopg2 is not installed: {exc}"
    from playhouse.db_url import parse

    params = parse(PG_URL)
    name = params.pop("database")
    try:
        try:
            psycopg2.connect(dbname=name, connect_timeout=3, **params).close()
        except psycopg2.OperationalError as exc:
            if "does not exist" not in str(exc):
                raise
            # The server is there but the scratch database is not: make it.
            admin = psycopg2.connect(dbname="postgres", connect_timeout=3, **params)
            admin.autocommit = True
            admin.cursor().execute(f'CREATE DATABASE "{name}"')
            admin.close()
    except Exception as exc:  # noqa: BLE001 - any failure means: no server to test on
        return f"no PostgreSQL at {PG_URL} ({exc.__class__.__name__}: {str(exc).strip()})"
    return None


_PG_REASON = _postgresql_unavailable_reason()


def require_postgresql() -> None:
    if _PG_REASON is None:
        return
    if IN_CI:
        pytest.fail(f"CI=true but PostgreSQL is unavailable: {_PG_REASON}")
    pytest.skip(_PG_REASON)


def reset_postgresql() -> None:
    """Drop every table of the scratch database (which is why it must be a scratch one)."""
    store = models.open_store(PG_URL)
    tables = store.db.get_tables()
    if tables:
        store.db.execute_sql(f"DROP TABLE IF EXISTS {', '.join(tables)} CASCADE")
    store.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def db_url(request, tmp_path) -> str:
    """A fresh, empty database URL: a new SQLite file, or PostgreSQL with its tables dropped."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/tasks.db"
    require_postgresql()
    reset_postgresql()
    return PG_URL


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/tasks.db"


@pytest.fixture
def pg_url() -> str:
    require_postgresql()
    reset_postgresql()
    return PG_URL


@pytest.fixture
def store(db_url) -> models.Store:
    """A store on a fresh, migrated database, whose leases and due times follow the
    ``now`` each call passes, so that a test can pin time and move it on by hand.

    On PostgreSQL the database's clock decides them in production, whatever a
    caller passes; ``tests/models/test_database_clock.py`` and the system tests
    (real nodes) run that way.
    """
    opened = models.open_store(db_url)
    opened.migrate()
    opened.trust_caller_clock = True
    yield opened
    opened.close()


@pytest.fixture(autouse=True)
def stop_actors():
    yield
    pykka.ActorRegistry.stop_all()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServiceProcess:
    """``python run.py`` as a real process on a free port.

    Its log goes through a pipe to a reader thread that copies it to a file
    and sets ``ready`` when the service says it is listening, so starting
    waits on an event rather than polling.
    """

    def __init__(self, db_url: str, log_path: Path, *flags: str, env: dict | None = None) -> None:
        self.db_url = db_url
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.flags = flags
        self.env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
        self.process: subprocess.Popen | None = None
        self.ready = threading.Event()
        self._reader: threading.Thread | None = None

    def start(self, wait: bool = True) -> ServiceProcess:
        if not _system_test_running:
            raise RuntimeError(
                "only a test marked 'system' may start the service: pytest -m 'not system' "
                "must stay in-process"
            )
        self.ready.clear()
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(REPO / "run.py"),
                "--port",
                str(self.port),
                "--db",
                self.db_url,
                *self.flags,
            ],
            cwd=self.log_path.parent,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=self.env,
        )
        self._reader = threading.Thread(target=self._copy_log, args=(self.process,), daemon=True)
        self._reader.start()
        if wait:
            self.wait_ready()
        return self

    def _copy_log(self, process: subprocess.Popen) -> None:
        with open(self.log_path, "ab") as log:
            for line in process.stdout:
                log.write(line)
                log.flush()
                if b" listening " in line:
                    self.ready.set()
        self.ready.set()  # the process ended: wake whoever waits, who then sees it exited

    def wait_ready(self) -> None:
        if not self.ready.wait(READY_TIMEOUT_SECONDS):
            raise RuntimeError(
                f"service did not listen within {READY_TIMEOUT_SECONDS}s:\n{self.log()}"
            )
        if self.process.poll() is not None:
            self._reader.join(5)
            raise RuntimeError(f"service exited with {self.process.returncode}:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        """Wait for the process to exit; return its exit code, or fail showing its log."""
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"the service was still running after {timeout}s; its log:\n{self.log()[-5000:]}"
            ) from None
        self._reader.join(5)
        return code

    def kill(self) -> None:
        """kill -9, and wait for it to be gone."""
        self.process.kill()
        self.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()


@pytest.fixture
def start_service(tmp_path):
    """Factory: ``start_service(db_url, *flags)`` → a running ``ServiceProcess``.

    Every process it started is killed at teardown."""
    started: list[ServiceProcess] = []

    def start(db_url: str, *flags: str, env: dict | None = None) -> ServiceProcess:
        service = ServiceProcess(db_url, tmp_path / f"service-{len(started)}.log", *flags, env=env)
        started.append(service)
        return service.start()

    yield start
    for service in started:
        service.stop()
