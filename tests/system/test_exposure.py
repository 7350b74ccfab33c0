"""Starting the service where others can reach it: without a token file it refuses,
unless told --insecure-no-auth, which it warns about (issue 12, items 2 and 4)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, free_port
from tests.web.client import post_json, request, wait_for_log
from tests.web.tokens import make_token

pytestmark = pytest.mark.system


def run_py(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "run.py"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_a_non_loopback_host_without_a_token_file_refuses_to_start(tmp_path, host):
    port = free_port()
    result = run_py("--host", host, "--port", str(port), "--db", f"sqlite:///{tmp_path}/t.db")
    assert result.returncode == 2, result
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith(
        f"run.py: error: refusing to serve on --host {host} without --token-file"
    )
    assert "--insecure-no-auth" in message and "run.py token" in message
    # Nothing was started: no database, and the port is free
    assert not (tmp_path / "t.db").exists()


def test_insecure_no_auth_starts_on_every_interface_and_warns(sqlite_url, start_service):
    service = start_service(sqlite_url, "--host", "0.0.0.0", "--insecure-no-auth")
    wait_for_log(
        service,
        r"WARNING --insecure-no-auth: serving 0\.0\.0\.0:\d+ without authentication; anyone "
        r"who can reach the port can read, queue, cancel and retry tasks",
    )
    assert request(service.base_url, "GET", "/tasks").status == 200


def test_insecure_no_auth_with_a_token_file_is_a_usage_error(tmp_path):
    _, line = make_token("ci", "admin")
    (tmp_path / "tokens").write_text(line + "\n")
    result = run_py("--token-file", str(tmp_path / "tokens"), "--insecure-no-auth")
    assert result.returncode == 2
    assert "contradict" in result.stderr


def test_a_bad_token_file_is_a_usage_error_naming_the_line(tmp_path):
    (tmp_path / "tokens").write_text("# tokens\nci admin tq_pasted-secret\n")
    result = run_py("--token-file", str(tmp_path / "tokens"))
    assert result.returncode == 2
    assert "line 2: the third field must be the SHA-256 of the secret" in result.stderr
    assert "tq_pasted-secret" not in result.stderr
    missing = run_py("--token-file", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr


def test_a_token_made_by_run_py_token_opens_a_service_on_every_interface(
    tmp_path, sqlite_url, start_service
):
    # Given: a token made as the README says, its line in a file named by the variable
    secret, line = make_token("deploy", "write")
    (tmp_path / "tokens").write_text(line + "\n")
    assert secret not in (tmp_path / "tokens").read_text()
    service = start_service(
        sqlite_url,
        "--host",
        "0.0.0.0",
        env={"TASKQUEUE_TOKEN_FILE": str(tmp_path / "tokens")},
    )
    wait_for_log(service, r"INFO access by token tokens=1 file=")
    # Then: no token, no entry; the token, a task
    assert post_json(service.base_url, {"action": "x"}).status == 401
    accepted = request(
        service.base_url,
        "POST",
        "/tasks",
        b'{"action": "x"}',
        {"Content-Type": "application/json", "Authorization": f"Bearer {secret}"},
    )
    assert accepted.status == 202, accepted.body
    # And: the Host check is off when not on loopback (any name reaches the service)
    by_name = request(
        service.base_url,
        "GET",
        "/tasks",
        headers={"Authorization": f"Bearer {secret}", "Host": "tasks.example.com"},
    )
    assert by_name.status == 200


@pytest.mark.parametrize(
    "args",
    [("token", "ci"), ("token", "ci", "owner"), ("token", "c i", "read")],
    ids=["no-role", "bad-role", "bad-name"],
)
def test_run_py_token_checks_its_arguments(args):
    result = run_py(*args)
    assert result.returncode == 2 and "run.py: error:" in result.stderr
    assert "secret:" not in result.stdout
