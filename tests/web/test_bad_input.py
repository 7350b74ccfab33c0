"""Every bad input of issue 2 gets its exact status and a JSON ``{"error": ...}`` body, never a 500.

One service (SQLite, ``--max-body 1024``) serves the whole module: bad input
is rejected before it reaches the database. Whichever test runs last, the
module fails at teardown unless the service survived every test, logged no
unhandled error, and stored only the tasks named ``good-…``.
"""

from __future__ import annotations

from urllib.parse import quote

import orjson
import pytest

from .client import Response, list_tasks, post_json, request, submit, wait_for_status
from .conftest import SMALL_MAX_BODY_BYTES

pytestmark = pytest.mark.system

MAX_BODY_BYTES = SMALL_MAX_BODY_BYTES  # the shared service's limit
JSON = {"Content-Type": "application/json"}


def assert_json_error(response: Response, status: int, message: str | None = None) -> str:
    """The response has ``status`` and the body ``{"error": <text>}``; returns the text."""
    assert response.status == status, (response.status, response.body)
    assert response.content_type == "application/json", response.content_type
    body = orjson.loads(response.body)
    assert isinstance(body, dict) and set(body) == {"error"}, body
    assert isinstance(body["error"], str) and body["error"], body
    if message is not None:
        assert body["error"] == message
    return body["error"]


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'{"action": "bad"',
        b"",
        b"   \r\n\t ",
        b"\xff\xfe{}",
        b'{"action": "bad", "data": {"n": NaN}}',
        b'{"action": "bad"} trailing',
    ],
    ids=["garbage", "truncated", "empty", "whitespace", "not-utf8", "nan", "trailing"],
)
def test_invalid_json(service, body):
    response = request(service.base_url, "POST", "/tasks", body, JSON)
    assert_json_error(response, 400, "invalid JSON")


def test_repeated_key(service):
    body = b'{"action": "bad", "action": "worse"}'
    response = request(service.base_url, "POST", "/tasks", body, JSON)
    error = assert_json_error(response, 400)
    assert error.startswith("invalid JSON"), error


def test_no_body_at_all(service):
    response = request(service.base_url, "POST", "/tasks", None, JSON)
    assert_json_error(response, 400, "invalid JSON")


@pytest.mark.parametrize(
    "task",
    [
        {},
        {"data": {"text": "x"}},
        {"action": None},
        {"action": None, "data": {}},
        {"action": ""},
    ],
    ids=["empty-object", "missing", "null", "null-with-data", "empty"],
)
def test_action_required(service, task):
    assert_json_error(post_json(service.base_url, task), 400, "action required")


@pytest.mark.parametrize(
    "value", ["uppercase", 42, 1.5, True, None], ids=["string", "int", "float", "bool", "null"]
)
def test_json_that_is_not_an_object(service, value):
    error = assert_json_error(post_json(service.base_url, value), 400)
    assert "object" in error, error


@pytest.mark.parametrize(
    "action",
    [42, ["uppercase"], {"name": "uppercase"}, True],
    ids=["int", "list", "object", "bool"],
)
def test_action_that_is_not_a_string(service, action):
    error = assert_json_error(post_json(service.base_url, {"action": action}), 400)
    assert "action" in error and "string" in error, error


@pytest.mark.parametrize("data", [[1, 2], "text", 5, True], ids=["list", "string", "int", "bool"])
def test_data_that_is_not_an_object(service, data):
    error = assert_json_error(post_json(service.base_url, {"action": "bad", "data": data}), 400)
    assert "data" in error and "object" in error, error


def test_unknown_field(service):
    task = {"action": "bad", "data": {}, "priorty": 9}
    error = assert_json_error(post_json(service.base_url, task), 400)
    assert "priorty" in error, error


def test_body_at_the_limit_is_accepted(service):
    body = padded_task(MAX_BODY_BYTES, "good-at-limit")
    assert len(body) == MAX_BODY_BYTES
    response = request(service.base_url, "POST", "/tasks", body, JSON)
    assert response.status == 202, response.body


def test_body_over_the_limit_with_content_length(service):
    body = padded_task(MAX_BODY_BYTES + 1)
    response = request(service.base_url, "POST", "/tasks", body, JSON)
    assert_json_error(response, 413)


def test_body_well_over_the_limit_with_content_length(service):
    response = request(service.base_url, "POST", "/tasks", b"x" * (2 * MAX_BODY_BYTES), JSON)
    assert_json_error(response, 413)


def test_chunked_body_at_the_limit_is_accepted(service):
    body = padded_task(MAX_BODY_BYTES, "good-chunked")
    response = request(
        service.base_url, "POST", "/tasks", iter([body[:100], body[100:]]), JSON, chunked=True
    )
    assert response.status == 202, response.body


def test_chunked_body_over_the_limit(service):
    # No Content-Length: the server learns the size only by reading the chunks.
    too_large = padded_task(MAX_BODY_BYTES + 1)
    chunks = [too_large[i : i + 300] for i in range(0, len(too_large), 300)]
    response = request(service.base_url, "POST", "/tasks", iter(chunks), JSON, chunked=True)
    assert_json_error(response, 413)


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",  # what curl -d sends without -H
        "multipart/form-data; boundary=x",
        "application/xml",
    ],
)
def test_wrong_content_type(service, content_type):
    response = request(
        service.base_url, "POST", "/tasks", b'{"action": "bad"}', {"Content-Type": content_type}
    )
    assert_json_error(response, 415)


def test_json_content_type_with_charset_is_accepted(service):
    response = request(
        service.base_url,
        "POST",
        "/tasks",
        b'{"action": "good-charset"}',
        {"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status == 202, response.body


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/tasks"),
        ("DELETE", "/tasks"),
        ("PATCH", "/tasks"),
        ("OPTIONS", "/tasks"),
        ("PUT", "/tasks/0b9f5c4e-8a43-4c59-9a3e-5d1f2b8f0c11"),
        ("DELETE", "/tasks/0b9f5c4e-8a43-4c59-9a3e-5d1f2b8f0c11"),
        ("POST", "/tasks/0b9f5c4e-8a43-4c59-9a3e-5d1f2b8f0c11"),
    ],
)
def test_other_method(service, method, path):
    response = request(service.base_url, method, path, b'{"action": "bad"}', JSON)
    assert_json_error(response, 405)
    allowed = {name.strip() for name in response.headers.get("allow", "").split(",")}
    # Allow names exactly what the resource answers
    expected = {"GET", "HEAD", "POST"} if path == "/tasks" else {"GET", "HEAD"}
    assert allowed == expected, response.headers


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nope"),
        ("GET", "/tasksx"),
        ("GET", "/TASKS"),
        ("POST", "/nope"),
        ("GET", "/tasks/a/b"),
        ("GET", "/tasks/a/b/c"),
        ("GET", "/tasks/%00"),
        ("GET", "/tasks/" + "a" * 2000),
    ],
)
def test_unknown_path(service, method, path):
    response = request(service.base_url, method, path, b"{}" if method == "POST" else None, JSON)
    assert_json_error(response, 404)


@pytest.mark.parametrize(
    "status", ["", "COMPLETED", "pending", "done", "completed,done", "completed,,dead"]
)
def test_bad_status_filter(service, status):
    response = request(service.base_url, "GET", f"/tasks?status={quote(status)}")
    error = assert_json_error(response, 400)
    assert "status" in error, error


@pytest.mark.parametrize("query", ["status=completed&status=dead", "status=completed,dead"])
def test_several_statuses_repeated_or_comma_separated(service, query):
    done = submit(service.base_url, "good-status", {})
    wait_for_status(service.base_url, done, "completed")
    response = request(service.base_url, "GET", f"/tasks?{query}")
    assert response.status == 200, response.body
    tasks = response.json()["tasks"]
    assert done in {task["id"] for task in tasks}
    assert {task["status"] for task in tasks} <= {"completed", "dead"}


@pytest.mark.parametrize(
    "limit",
    [
        "0",
        "1001",
        "-1",
        "abc",
        "",
        "1.5",
        "1e2",
        "0x10",
        " 5",
        "+5",
        "\u0661\u0662",  # Arabic-Indic "12": str.isdigit() says yes, int() would accept it
        "\u00b2",  # superscript two: isdigit() yes, int() no
        "99999999999999999999",
    ],
    ids=lambda value: repr(value),
)
def test_bad_limit(service, limit):
    response = request(service.base_url, "GET", f"/tasks?limit={quote(limit)}")
    error = assert_json_error(response, 400)
    assert "limit" in error, error


def test_repeated_limit(service):
    response = request(service.base_url, "GET", "/tasks?limit=1&limit=2")
    assert_json_error(response, 400)


@pytest.mark.parametrize("limit", ["1", "1000"])
def test_limit_bounds_are_accepted(service, limit):
    assert request(service.base_url, "GET", f"/tasks?limit={limit}").status == 200


def test_a_good_task_completes_right_after_bad_requests(service):
    # Given: one bad request of each kind, each refused with its status
    bad_requests = [
        (("POST", "/tasks", b"{not json", JSON), 400),
        (("POST", "/tasks", padded_task(MAX_BODY_BYTES + 1), JSON), 413),
        (("POST", "/tasks", b'{"action": "bad"}', {"Content-Type": "text/plain"}), 415),
        (("POST", "/tasks", b'{"action": "bad", "priorty": 1}', JSON), 400),
        (("DELETE", "/tasks", None, JSON), 405),
        (("GET", "/nope", None, JSON), 404),
        (("GET", "/tasks?limit=0", None, JSON), 400),
    ]
    for (method, path, body, headers), status in bad_requests:
        assert_json_error(request(service.base_url, method, path, body, headers), status)
    too_large = padded_task(MAX_BODY_BYTES + 1)
    chunks = [too_large[i : i + 300] for i in range(0, len(too_large), 300)]
    oversized = request(service.base_url, "POST", "/tasks", iter(chunks), JSON, chunked=True)
    assert_json_error(oversized, 413)

    # When: a good task is posted
    task_id = submit(service.base_url, "good-final", {"text": "still here"})

    # Then: it is accepted and completed
    assert wait_for_status(service.base_url, task_id, "completed")["result"] == {
        "output": "processed"
    }
    # And: none of the bad requests stored a task
    stored = list_tasks(service.base_url, limit=1000)["tasks"]
    assert all(task["action"].startswith("good-") for task in stored), stored


def padded_task(size: int, action: str = "bad") -> bytes:
    """A valid task body of exactly ``size`` bytes."""
    empty = b'{"action": "%s", "data": {"pad": ""}}' % action.encode()
    return empty[:-3] + b"p" * (size - len(empty)) + empty[-3:]
