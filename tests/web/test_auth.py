"""Tokens and roles through the real service (issue 12, "Authentication and roles").

One service, on SQLite, with a token file made by ``run.py token`` (one token per
role) and ``--log-level DEBUG``, serves the module. It listens on 127.0.0.1: with
a token file, loopback clients need a token like anyone else. The test of
``--metrics-public`` starts a second service with the same file.
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest

import models
from tests.conftest import ServiceProcess

from .client import Response, request
from .conftest import serve_module
from .tokens import make_token

pytestmark = pytest.mark.system

UNKNOWN_ID = "0b9f5c4e-8a43-4c59-9a3e-5d1f2b8f0c11"
JSON = {"Content-Type": "application/json"}
# Every operation of the API (as of this issue), the least role it needs, a body, and
# the status a caller with that role gets for the request below.
OPERATIONS = [
    ("GET", "/tasks", "read", None, 200),
    ("GET", f"/tasks/{UNKNOWN_ID}", "read", None, 404),
    ("GET", "/queues", "read", None, 200),
    ("GET", "/actions", "read", None, 200),
    ("GET", "/openapi.json", "read", None, 200),
    ("POST", "/tasks", "write", b'{"action": "role-check", "delay": 3600}', 202),
    ("POST", f"/tasks/{UNKNOWN_ID}/cancel", "admin", None, 404),
    ("POST", f"/tasks/{UNKNOWN_ID}/retry", "admin", None, 404),
    ("POST", "/tasks/cancel", "admin", b'{"ids": ["' + UNKNOWN_ID.encode() + b'"]}', 200),
    ("POST", "/tasks/retry", "admin", b'{"ids": ["' + UNKNOWN_ID.encode() + b'"]}', 200),
    ("POST", "/queues/auth-check/pause", "admin", None, 200),
    ("POST", "/queues/auth-check/resume", "admin", None, 200),
]
ROLES = ("read", "write", "admin")


@pytest.fixture(scope="module")
def secrets(tmp_path_factory) -> dict[str, str]:
    made = {role: make_token(f"{role}-bot", role) for role in ROLES}
    folder = tmp_path_factory.mktemp("tokens")
    (folder / "tokens").write_text("".join(line + "\n" for _, line in made.values()))
    return {role: secret for role, (secret, _) in made.items()} | {"file": str(folder / "tokens")}


@pytest.fixture(scope="module")
def service(tmp_path_factory, secrets) -> Iterator[ServiceProcess]:
    folder = tmp_path_factory.mktemp("auth")
    yield from serve_module(folder, "--token-file", secrets["file"], "--log-level", "DEBUG")


def call(service, method, path, body=None, secret=None, headers=None) -> Response:
    sent = dict(JSON if body is not None else {})
    if secret is not None:
        sent["Authorization"] = f"Bearer {secret}"
    return request(service.base_url, method, path, body, {**sent, **(headers or {})})


def assert_json_error(response: Response, status: int) -> str:
    assert response.status == status, (response.status, response.body)
    assert response.content_type == "application/json"
    body = orjson.loads(response.body)
    assert set(body) == {"error"} and body["error"], body
    return body["error"]


@pytest.mark.parametrize(("method", "path", "needed", "body", "ok"), OPERATIONS)
def test_every_operation_answers_its_role_and_refuses_the_roles_below(
    service, secrets, method, path, needed, body, ok
):
    for role in ROLES:
        response = call(service, method, path, body, secrets[role])
        if ROLES.index(role) >= ROLES.index(needed):
            assert response.status == ok, (role, response.status, response.body)
        else:
            error = assert_json_error(response, 403)
            assert error == f"this needs the {needed} role; the token '{role}-bot' has {role}"
            assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


@pytest.mark.parametrize(("method", "path", "needed", "body", "ok"), OPERATIONS)
def test_every_operation_needs_a_token(service, method, path, needed, body, ok):
    response = call(service, method, path, body)
    assert_json_error(response, 401)
    assert response.headers["www-authenticate"] == 'Bearer realm="taskqueue"'


def test_a_wrong_token_gets_401_and_stores_nothing(service, secrets):
    wrong = secrets["admin"][:-2] + "xx"
    response = call(service, "POST", "/tasks", b'{"action": "bad-token"}', wrong)
    assert assert_json_error(response, 401) == "invalid token"
    assert response.headers["www-authenticate"] == (
        'Bearer realm="taskqueue", error="invalid_token"'
    )
    listing = call(service, "GET", "/tasks?limit=1000", secret=secrets["read"])
    assert "bad-token" not in {task["action"] for task in listing.json()["tasks"]}


def test_an_admin_action_records_the_tokens_name(service, secrets):
    # Given: a task queued by the write token
    response = call(
        service, "POST", "/tasks", b'{"action": "audited", "delay": 3600}', secrets["write"]
    )
    assert response.status == 202, response.body
    task_id = response.json()["id"]
    # When: the admin token cancels it and pauses a queue
    assert call(service, "POST", f"/tasks/{task_id}/cancel", secret=secrets["admin"]).status == 200
    paused = call(service, "POST", "/queues/audited/pause", secret=secrets["admin"])
    # Then: each change records the token's name and the client's address
    assert paused.json()["paused_by"] == "admin-bot@127.0.0.1"
    store = models.open_store(service.db_url)
    try:
        events = store.events_of(task_id)
    finally:
        store.close()
    assert [(e["kind"], e["by"]) for e in events if "by" in e] == [
        ("canceled", "admin-bot@127.0.0.1")
    ]


def test_no_token_appears_in_the_log_or_in_any_answer(service, secrets):
    # Given: every secret sent right and wrong, in requests that succeed and fail
    answers = []
    for role in ROLES:
        secret = secrets[role]
        for sent in (secret, secret + "x", "x" + secret):
            answers.append(call(service, "GET", "/tasks?limit=1", secret=sent))
            answers.append(call(service, "POST", "/tasks", b"{not json", sent))
            answers.append(call(service, "POST", "/tasks", b'{"action": 1}', sent))
            answers.append(call(service, "GET", "/nope", secret=sent))
            answers.append(call(service, "POST", "/queues/bad%20name!/pause", secret=sent))
        answers.append(call(service, "GET", "/tasks", headers={"Authorization": secret}))
        answers.append(call(service, "GET", "/tasks", headers={"Authorization": f"Basic {secret}"}))
    assert {answer.status for answer in answers} >= {200, 400, 401, 403, 404}
    # Then: no secret is in any answer (headers included), nor in the DEBUG log
    log = service.log()
    for role in ROLES:
        secret = secrets[role]
        assert secret not in log
        for answer in answers:
            assert secret.encode() not in answer.body
            assert all(secret not in value for value in answer.headers.values())


def test_the_openapi_document_declares_the_bearer_scheme(service, secrets):
    document = call(service, "GET", "/openapi.json", secret=secrets["read"]).json()
    scheme = document["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert document["security"] == [{"bearer": []}]


def test_metrics_need_a_read_token_and_health_needs_none(service, secrets):
    # Without a token, or with a wrong one: 401 and its challenge, no metric in it
    for sent in (None, secrets["read"] + "x"):
        response = call(service, "GET", "/metrics", secret=sent)
        assert_json_error(response, 401)
        assert response.headers["www-authenticate"].startswith('Bearer realm="taskqueue"')
    # Every role covers read
    for role in ROLES:
        response = call(service, "GET", "/metrics", secret=secrets[role])
        assert response.status == 200, (role, response.status, response.body)
        assert response.content_type.startswith("text/plain"), response.content_type
        assert b"# TYPE " in response.body
    # Liveness and readiness answer anyone
    assert call(service, "GET", "/healthz").status == 200
    assert call(service, "GET", "/readyz").status == 200


@pytest.fixture
def metrics_public(tmp_path, secrets) -> Iterator[ServiceProcess]:
    yield from serve_module(tmp_path, "--token-file", secrets["file"], "--metrics-public")


def test_metrics_public_opens_metrics_and_nothing_else(metrics_public):
    response = call(metrics_public, "GET", "/metrics")
    assert response.status == 200, (response.status, response.body)
    assert b"# TYPE " in response.body
    assert_json_error(call(metrics_public, "GET", "/tasks"), 401)
    assert_json_error(call(metrics_public, "GET", "/openapi.json"), 401)
