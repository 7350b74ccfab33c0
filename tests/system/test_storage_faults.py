"""The SQLite files under a running service go wrong, as an operator or a full disk
makes them: each fault is answered by name, never with a 202 that a crash would
lose, and every task that was answered 202 survives kill -9.

A full disk is a real one: a small tmpfs mounted for the test (it needs the
right to mount: root, here and in CI). A file that cannot be written is made
so with ``chattr +i``, which binds root too.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from tests.conftest import IN_CI, PG_URL, require_postgresql
from tests.web.client import post_json, request, wait_for, wait_until_all

from .storage import stored_tasks

pytestmark = pytest.mark.system

DISK_BYTES = 4 * 1024 * 1024
BIG_DATA = {"pad": "x" * 64 * 1024}  # a full disk is met within DISK_BYTES / 64 KiB posts
MAX_POSTS = 2 * DISK_BYTES // (64 * 1024)
FLAGS = ("--simulated-work", "0")


def _mount(*args: str) -> None:
    result = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        reason = f"cannot mount ({' '.join(args)}): {result.stderr.strip()}"
        if IN_CI:
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)


@contextlib.contextmanager
def mounted(*args: str, at: Path) -> Iterator[Path]:
    at.mkdir(exist_ok=True)
    _mount(*args, str(at))
    try:
        yield at
    finally:
        subprocess.run(["umount", "-l", str(at)], check=False)


def fill(folder: Path) -> Path:
    """Write a file until the disk has no room left; return it."""
    filler = folder / "filler"
    chunk = b"\0" * 65536
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        while os.write(fd, chunk):
            pass
    except OSError as exc:
        assert exc.errno == errno.ENOSPC, exc
    finally:
        os.close(fd)
    return filler


def accepted_ids(answers) -> list[str]:
    return [answer.json()["id"] for answer in answers if answer.status == 202]


@contextlib.contextmanager
def small_disk(at: Path, owner: str | None = None) -> Iterator[Path]:
    """A tmpfs of ``DISK_BYTES`` at ``at``, owned by ``owner`` (a user name) if given."""
    options = f"size={DISK_BYTES},mode=0755"
    if owner is not None:
        user = pwd.getpwnam(owner)
        options += f",uid={user.pw_uid},gid={user.pw_gid}"
    with mounted("-t", "tmpfs", "-o", options, "tmpfs", at=at) as disk:
        yield disk


@contextlib.contextmanager
def database_on_small_disk(backend: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(the URL of an empty database whose tables live on a small disk, that disk)."""
    if backend == "sqlite":
        with small_disk(tmp_path / "disk") as disk:
            yield f"sqlite:///{disk}/tasks.db", disk
        return
    # PostgreSQL: a tablespace on the small disk (a folder the server's user can reach,
    # so not under pytest's), and a database whose tables go there. The database's
    # catalogues stay on the server's own disk: a copy of them (template1 is several
    # MB) would leave the small disk's room to chance before the test fills it.
    require_postgresql()
    at = Path(f"/tmp/taskqueue-small-disk-{os.getpid()}")
    server = psycopg2.connect(PG_URL)
    server.autocommit = True
    cursor = server.cursor()
    owner = _owner(cursor)
    with small_disk(at, owner) as disk:
        name = "taskqueue_small_disk"
        cursor.execute(f"DROP DATABASE IF EXISTS {name}")
        cursor.execute("DROP TABLESPACE IF EXISTS taskqueue_small_disk")
        cursor.execute(f"CREATE TABLESPACE taskqueue_small_disk LOCATION '{disk}'")
        cursor.execute(f"CREATE DATABASE {name}")
        cursor.execute(f"ALTER DATABASE {name} SET default_tablespace = taskqueue_small_disk")
        try:
            yield PG_URL.rsplit("/", 1)[0] + f"/{name}", disk
        finally:
            cursor.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            cursor.execute("DROP TABLESPACE IF EXISTS taskqueue_small_disk")
            server.close()


def _owner(cursor) -> str:
    """The operating-system user the PostgreSQL server runs as (it owns its data folder)."""
    cursor.execute("SELECT current_setting('data_directory')")
    return pwd.getpwuid(os.stat(cursor.fetchone()[0]).st_uid).pw_name


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]
)
def test_a_full_disk_is_a_503_by_name_and_loses_no_accepted_task(backend, tmp_path, start_service):
    with database_on_small_disk(backend, tmp_path) as (url, disk):
        service = start_service(url, *FLAGS)
        before = [post_json(service.base_url, {"action": "sum"}) for _ in range(5)]
        assert [answer.status for answer in before] == [202] * 5
        filler = fill(disk)
        # When tasks keep coming with no room left on the disk
        answers = []
        for _ in range(MAX_POSTS):
            answers.append(post_json(service.base_url, {"action": "sum", "data": BIG_DATA}))
            if answers[-1].status != 202:
                break
        # Then the answer names the cause, as JSON with Retry-After
        refused = answers[-1]
        assert refused.status == 503, (len(answers), refused.status, refused.body)
        assert refused.json() == {"error": "database disk is full"}
        assert refused.headers["retry-after"]
        # And reads still work
        assert request(service.base_url, "GET", "/tasks?limit=1").status == 200
        # When room is made, the same process accepts again
        filler.unlink()
        after = wait_for(
            lambda: (a := post_json(service.base_url, {"action": "sum"})).status == 202 and a,
            message="a 202 once the disk has room",
        )
        # And after kill -9, every task answered 202 is there, and runs
        accepted = accepted_ids([*before, *answers, after])
        service.kill()
        assert set(accepted) <= set(stored_tasks(url))
        restarted = start_service(url, *FLAGS)
        tasks = wait_until_all(restarted.base_url, accepted)
        assert {task["status"] for task in tasks.values()} == {"completed"}
        restarted.stop()


def test_a_deleted_wal_is_a_503_and_a_failed_readyz_and_loses_no_accepted_task(
    tmp_path, start_service
):
    url = f"sqlite:///{tmp_path}/tasks.db"
    service = start_service(url, *FLAGS)
    # Tasks accepted while the files are right, not yet copied into the database file
    before = [post_json(service.base_url, {"action": "sum", "data": {"n": n}}) for n in range(5)]
    accepted = accepted_ids(before)
    assert len(accepted) == 5
    # When the -wal is deleted under the running service
    os.unlink(tmp_path / "tasks.db-wal")
    # Then a POST is refused, naming the file, and readiness fails
    refused = post_json(service.base_url, {"action": "sum"})
    assert refused.status == 503, refused.body
    assert "tasks.db-wal was deleted while open" in refused.json()["error"]
    ready = request(service.base_url, "GET", "/readyz")
    assert ready.status == 503
    # (or, once another connection opened a new -wal beside the deleted one, "replaced")
    assert "tasks.db-wal was" in ready.json()["failing"]["database_files"]
    # And after kill -9, the tasks accepted before are still there, and run
    service.kill()
    assert set(accepted) <= set(stored_tasks(url))
    restarted = start_service(url, *FLAGS)
    tasks = wait_until_all(restarted.base_url, accepted)
    assert {task["status"] for task in tasks.values()} == {"completed"}
    assert post_json(restarted.base_url, {"action": "sum"}).status == 202


def test_a_replaced_database_file_is_a_503_and_a_failed_readyz(tmp_path, start_service):
    url = f"sqlite:///{tmp_path}/tasks.db"
    service = start_service(url, *FLAGS)
    assert post_json(service.base_url, {"action": "sum"}).status == 202
    # When another file is moved over the database (a restore gone wrong)
    shutil.copy(tmp_path / "tasks.db", tmp_path / "restored.db")
    os.replace(tmp_path / "restored.db", tmp_path / "tasks.db")
    # Then nothing more is accepted into the file no one will open again
    refused = post_json(service.base_url, {"action": "sum"})
    assert refused.status == 503, refused.body
    assert "tasks.db was replaced while open" in refused.json()["error"]
    ready = request(service.base_url, "GET", "/readyz")
    assert ready.status == 503
    assert "replaced" in ready.json()["failing"]["database_files"]


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[None]:
    """``chattr +i``: no one may write the file, root included, until the block ends."""
    result = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if result.returncode != 0:
        reason = f"cannot make {path} immutable: {result.stderr.strip()}"
        if IN_CI:
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_database_that_cannot_be_written_is_a_503_and_a_failed_readyz(tmp_path, start_service):
    url = f"sqlite:///{tmp_path}/tasks.db"
    service = start_service(url, *FLAGS)
    accepted = post_json(service.base_url, {"action": "sum"})
    assert accepted.status == 202
    # When the database file may no longer be written (a restart could not open it)
    with immutable(tmp_path / "tasks.db"):
        refused = post_json(service.base_url, {"action": "sum"})
        assert refused.status == 503, refused.body
        assert "tasks.db cannot be written" in refused.json()["error"]
        ready = request(service.base_url, "GET", "/readyz")
        assert ready.status == 503
        assert "cannot be written" in ready.json()["failing"]["database_files"]
    # And once it may again, the same process accepts again
    assert post_json(service.base_url, {"action": "sum"}).status == 202
    service.kill()
    assert accepted.json()["id"] in stored_tasks(url)
