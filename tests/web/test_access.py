"""The gate in-process: tokens and the token file, roles, and the routes open to anyone.

The router runs here on a CherryPy request made in this process (no server), with
routes whose handlers just answer "ok": the mechanism is what is tested, on the
exposures a route can declare. The same checks through the real service are in
test_auth.py and test_browser.py.
"""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import cherrypy
import orjson
import pytest
from cherrypy import _cprequest
from cherrypy.lib import httputil

from web import WebConfig
from web.access import Gate, exposure_problem
from web.auth import Authenticator, TokenFileError, load_tokens, new_token, parse_tokens
from web.router import Exposure, Role, Route, Router

PORT = 8080


def ok(query, **path_params) -> bytes:
    return b'"ok"'


ROUTES = [
    Route("GET", "/tasks", ok),
    Route("POST", "/tasks", ok, Role.WRITE),
    Route("POST", "/tasks/{task_id}/cancel", ok, Role.ADMIN),
    Route("GET", "/healthz", ok, exposure=Exposure.PUBLIC),
    Route("GET", "/metrics", ok, exposure=Exposure.METRICS),
]


@pytest.fixture
def tokens(tmp_path):
    """A token file with one token of each role; returns (path, secrets by role)."""
    secrets = {}
    lines = ["# name role sha256", ""]
    for role in Role:
        secret, line = new_token(f"{role}-client", role)
        secrets[role] = secret
        lines.append(line)
    path = tmp_path / "tokens"
    path.write_text("\n".join(lines) + "\n")
    return path, secrets


def call(router: Router, method: str, path: str, headers=None, remote="127.0.0.1"):
    """Route one request as CherryPy would; return (status, body, request)."""
    request = _cprequest.Request(
        httputil.Host("127.0.0.1", PORT), httputil.Host(remote, 50000), "http"
    )
    response = _cprequest.Response()
    cherrypy.serving.load(request, response)
    request.app = SimpleNamespace(config={})
    request.method = method
    request.headers = httputil.HeaderMap({"Host": f"127.0.0.1:{PORT}", **(headers or {})})
    router(path)
    body = request.handler()
    status = int(str(response.status or 200).split()[0])  # a handler may leave the default
    return status, orjson.loads(body) if body else None, request


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_without_a_token_file_loopback_clients_are_served_and_others_refused():
    router = Router(ROUTES, guard=Gate(WebConfig()))
    assert call(router, "POST", "/tasks/x/cancel")[0] == 200
    status, body, _ = call(router, "GET", "/tasks", remote="192.0.2.7")
    assert status == 403 and "--token-file" in body["error"]
    # IPv6 loopback, and IPv4 loopback mapped into IPv6, are this machine too
    assert call(router, "GET", "/tasks", remote="::1")[0] == 200
    assert call(router, "GET", "/tasks", remote="::ffff:127.0.0.1")[0] == 200


def test_insecure_no_auth_serves_every_client():
    router = Router(ROUTES, guard=Gate(WebConfig(insecure_no_auth=True)))
    assert call(router, "POST", "/tasks/x/cancel", remote="192.0.2.7")[0] == 200


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (Role.READ, {"GET /tasks": 200, "POST /tasks": 403, "POST /tasks/x/cancel": 403}),
        (Role.WRITE, {"GET /tasks": 200, "POST /tasks": 200, "POST /tasks/x/cancel": 403}),
        (Role.ADMIN, {"GET /tasks": 200, "POST /tasks": 200, "POST /tasks/x/cancel": 200}),
    ],
)
def test_each_role_reaches_its_routes_and_no_more(tokens, role, expected):
    path, secrets = tokens
    router = Router(ROUTES, guard=Gate(WebConfig(tokens=load_tokens(str(path)))))
    for operation, status in expected.items():
        method, route_path = operation.split()
        answer, body, request = call(router, method, route_path, bearer(secrets[role]))
        assert answer == status, (operation, body)
        if status == 403:
            assert body["error"] == (
                f"this needs the {'write' if route_path == '/tasks' else 'admin'} role; "
                f"the token '{role}-client' has {role}"
            )
        else:
            # caller() records this name with what the request changes
            assert request.token_name == f"{role}-client"


def test_missing_wrong_and_malformed_tokens_get_401_with_a_challenge(tokens):
    path, secrets = tokens
    router = Router(ROUTES, guard=Gate(WebConfig(tokens=load_tokens(str(path)))))
    cases = {
        "missing": ({}, 'Bearer realm="taskqueue"'),
        "wrong": (bearer("tq_not-a-token"), 'Bearer realm="taskqueue", error="invalid_token"'),
        "a prefix of a secret": (
            bearer(secrets[Role.ADMIN][:-1]),
            'Bearer realm="taskqueue", error="invalid_token"',
        ),
        "another scheme": (
            {"Authorization": f"Basic {secrets[Role.ADMIN]}"},
            'Bearer realm="taskqueue", error="invalid_request"',
        ),
        "no secret": (
            {"Authorization": "Bearer "},
            'Bearer realm="taskqueue", error="invalid_request"',
        ),
    }
    for case, (headers, challenge) in cases.items():
        status, body, _ = call(router, "GET", "/tasks", headers)
        assert status == 401, case
        assert cherrypy.serving.response.headers["WWW-Authenticate"] == challenge, case
        assert set(body) == {"error"}, case
        # Nothing of what was sent comes back
        for value in headers.values():
            sent = value.partition(" ")[2].strip()
            assert not sent or sent not in body["error"], case


def test_a_public_route_is_open_to_anyone_and_metrics_only_when_made_public(tokens):
    path, secrets = tokens
    table = load_tokens(str(path))
    private = Router(ROUTES, guard=Gate(WebConfig(tokens=table)))
    public = Router(ROUTES, guard=Gate(WebConfig(tokens=table, metrics_public=True)))
    # PUBLIC: no token needed, and even a wrong one does not stop it
    assert call(private, "GET", "/healthz")[0] == 200
    assert call(private, "GET", "/healthz", bearer("tq_wrong"))[0] == 200
    # METRICS: a read token needed, unless --metrics-public
    assert call(private, "GET", "/metrics")[0] == 401
    assert call(private, "GET", "/metrics", bearer(secrets[Role.READ]))[0] == 200
    assert call(public, "GET", "/metrics")[0] == 200
    # Every other route still needs its token under --metrics-public
    assert call(public, "GET", "/tasks")[0] == 401
    # And without a token file, a public route is open to other machines too
    loopback_only = Router(ROUTES, guard=Gate(WebConfig()))
    assert call(loopback_only, "GET", "/healthz", remote="192.0.2.7")[0] == 200
    assert call(loopback_only, "GET", "/metrics", remote="192.0.2.7")[0] == 403


def test_unknown_paths_and_methods_need_a_token_first(tokens):
    path, secrets = tokens
    router = Router(ROUTES, guard=Gate(WebConfig(tokens=load_tokens(str(path)))))
    assert call(router, "GET", "/nope")[0] == 401
    assert call(router, "GET", "/nope", bearer(secrets[Role.READ]))[0] == 404
    assert call(router, "DELETE", "/tasks", bearer(secrets[Role.READ]))[0] == 405


def test_the_token_file_holds_the_hash_and_new_token_makes_a_matching_line(tmp_path):
    secret, line = new_token("ci", Role.WRITE)
    name, role, digest = line.split()
    assert (name, role) == ("ci", "write")
    assert digest == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in line and secret.startswith("tq_") and len(secret) >= 40
    table = parse_tokens(line, "tokens")
    assert table.find(secret).name == "ci"
    assert table.find(secret + "x") is None
    # Two calls never make the same secret
    assert new_token("ci", Role.WRITE)[0] != secret


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "holds no token"),
        ("# only a comment\n", "holds no token"),
        ("ci write\n", "line 1: expected NAME ROLE SHA256, got 2 fields"),
        (f"ci boss {'a' * 64}\n", "line 1: role must be one of read, write, admin"),
        ("ci write tq_a-secret-by-mistake\n", "line 1: the third field must be the SHA-256"),
        (f"ci write {'a' * 64}\nci read {'b' * 64}\n", "line 2: the name 'ci' is used twice"),
        (f"a write {'a' * 64}\nb read {'A' * 64}\n", "line 2: the same secret is used twice"),
        (f"a@b write {'a' * 64}\n", "line 1: a token name is 1 to 64 characters"),
    ],
)
def test_a_bad_token_file_is_refused_with_the_line_and_the_reason(text, message):
    with pytest.raises(TokenFileError) as raised:
        parse_tokens(text, "tokens")
    assert message in str(raised.value)
    # A secret pasted by mistake is not repeated in the message
    assert "tq_a-secret-by-mistake" not in str(raised.value)


def test_roles_include_the_ones_before_them():
    assert Role.ADMIN.covers(Role.WRITE) and Role.ADMIN.covers(Role.READ)
    assert Role.WRITE.covers(Role.READ) and not Role.WRITE.covers(Role.ADMIN)
    assert not Role.READ.covers(Role.WRITE)


def test_the_service_refuses_to_start_open_on_another_interface(tokens):
    path, _ = tokens
    table = load_tokens(str(path))
    assert "--token-file" in exposure_problem(WebConfig(host="0.0.0.0"))
    assert "--token-file" in exposure_problem(WebConfig(host="::"))
    assert exposure_problem(WebConfig(host="0.0.0.0", tokens=table)) is None
    assert exposure_problem(WebConfig(host="0.0.0.0", insecure_no_auth=True)) is None
    assert exposure_problem(WebConfig(host="127.0.0.1")) is None
    assert exposure_problem(WebConfig(host="localhost")) is None
    assert "contradict" in exposure_problem(WebConfig(tokens=table, insecure_no_auth=True))


def test_authenticator_compares_every_line():
    # The table is searched without stopping at the first match, so the time taken does
    # not depend on which line matched; here: a match on the last line is still found.
    lines = [new_token(f"t{n}", Role.READ) for n in range(5)]
    table = parse_tokens("\n".join(line for _, line in lines), "tokens")
    identity = Authenticator(table).identify(f"Bearer {lines[-1][0]}", "127.0.0.1")
    assert identity.name == "t4" and identity.role == Role.READ
