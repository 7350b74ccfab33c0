"""The token file read again on SIGHUP, through the real service and a real signal.

Each test starts its own service on SQLite (``serve_module``: it must survive, and its
log must hold no traceback) with a token file of its own, which the test rewrites.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ServiceProcess

from .client import request, wait_for
from .conftest import serve_module
from .tokens import make_token

pytestmark = pytest.mark.system

JSON = {"Content-Type": "application/json"}
TASK = b'{"action": "good-reload", "delay": 3600}'


@pytest.fixture(scope="module")
def tokens() -> dict[str, tuple[str, str]]:
    """(secret, token-file line) of three tokens, made by ``run.py token``."""
    return {
        "old": make_token("old-bot", "write"),
        "new": make_token("new-bot", "write"),
        "new-read": make_token("new-bot", "read"),
    }


@pytest.fixture
def token_file(tmp_path, tokens) -> Path:
    path = tmp_path / "tokens"
    path.write_text(tokens["old"][1] + "\n")
    return path


@pytest.fixture
def service(tmp_path, token_file) -> Iterator[ServiceProcess]:
    yield from serve_module(tmp_path, "--token-file", str(token_file))


def status(service, secret: str, method: str = "GET", path: str = "/tasks?limit=1") -> int:
    headers = {"Authorization": f"Bearer {secret}", **(JSON if method == "POST" else {})}
    body = TASK if method == "POST" else None
    return request(service.base_url, method, path, body, headers).status


def hang_up(service, count: int, message: str) -> None:
    """Send SIGHUP and wait until the log says ``message`` for the ``count``-th time."""
    service.process.send_signal(signal.SIGHUP)
    wait_for(
        lambda: service.log().count(message) >= count,
        message=f"{message!r} {count} times in the log:\n{service.log()[-3000:]}",
    )


def test_sighup_swaps_the_tokens_for_the_files_new_ones(service, token_file, tokens):
    old, new, new_read = (tokens[name][0] for name in ("old", "new", "new-read"))
    # Given: the file admits only the old token
    assert status(service, old) == 200
    assert status(service, new) == 401
    # When: the old line is replaced by the new one, and the service gets SIGHUP
    token_file.write_text(tokens["new"][1] + "\n")
    hang_up(service, 1, "token file reloaded tokens=1")
    # Then: the new token is served, and the old one is refused
    assert status(service, new) == 200
    assert status(service, new, "POST", "/tasks") == 202
    assert status(service, old) == 401
    # And: a role lowered in the file takes effect at the next SIGHUP
    token_file.write_text(tokens["new-read"][1] + "\n")
    hang_up(service, 2, "token file reloaded tokens=1")
    assert status(service, new_read) == 200
    assert status(service, new_read, "POST", "/tasks") == 403


@pytest.mark.parametrize(
    "breakage",
    ["a bad line", "no token", "deleted"],
)
def test_a_token_file_that_cannot_be_used_keeps_the_tokens_in_use(
    service, token_file, tokens, breakage
):
    old, new = tokens["old"][0], tokens["new"][0]
    # When: the file is broken, and the service gets SIGHUP
    if breakage == "a bad line":
        token_file.write_text(tokens["new"][1] + "\nnot a token line\n")
    elif breakage == "no token":
        token_file.write_text("# every token removed\n")
    else:
        token_file.unlink()
    hang_up(service, 1, "token file not reloaded, the tokens in use stay")
    # Then: the tokens in use are still the file's old ones, and nothing else
    assert status(service, old) == 200
    assert status(service, old, "POST", "/tasks") == 202
    assert status(service, new) == 401
    # And: the secret is in no log line
    assert old not in service.log() and new not in service.log()


def test_sighup_without_a_token_file_changes_nothing(tmp_path):
    for service in serve_module(tmp_path):
        hang_up(service, 1, "SIGHUP: no --token-file to reload")
        # Loopback clients are still served without a token
        assert request(service.base_url, "GET", "/tasks?limit=1").status == 200
