"""The OpenAPI document, schemathesis and hypothesis against the real service, and hostile input.

One service (SQLite, ``--max-body 65536``, enough for JSON nested 10,000
levels) serves the module. Every answer to anything sent here must be the
one status the README promises, with a JSON body, never a 5xx and never a
traceback. Whichever test runs last, the module fails at teardown unless the
service is still up and logged no unhandled error.
Cases already in test_bad_input.py are not repeated.
"""

from __future__ import annotations

import json
import math
import re
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import jsonschema_rs
import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis import checks as schemathesis_checks
from schemathesis.specs.openapi.definitions import OPENAPI_30

from models import STATUSES
from tests.conftest import ServiceProcess

from .client import Response, get_task, list_tasks, request, submit, wait_for_status
from .conftest import serve_module

pytestmark = pytest.mark.system

MAX_BODY_BYTES = 65536
JSON = {"Content-Type": "application/json"}
PROMPT_SECONDS = 5.0  # an answer that did not wait for the body (cheroot's own timeout is 10 s)
MAX_ACTION_LENGTH = 200
# orjson writes at most 254 levels; a stored payload is {"data": {"x": <nested>}, ...}
MAX_NESTED_IN_DATA = 254 - 2
INT_RANGE = (-(2**63), 2**64)  # integers kept exactly; the rest is refused
HYPOTHESIS = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> Iterator[ServiceProcess]:
    yield from serve_module(tmp_path_factory.mktemp("openapi"), "--max-body", str(MAX_BODY_BYTES))


def assert_sane(response: Response, status: int) -> Any:
    """Exactly ``status``, with a JSON body of the documented shape and no traceback;
    returns the body."""
    assert response.status == status, (response.status, response.body)
    assert response.content_type == "application/json", (response.content_type, response.body)
    assert b"Traceback" not in response.body and b'File "' not in response.body, response.body
    body = orjson.loads(response.body)
    if response.status >= 400:
        assert isinstance(body, dict) and set(body) == {"error"}, body
        assert isinstance(body["error"], str) and body["error"], body
    return body


def post_bytes(service: ServiceProcess, body: bytes, headers: dict | None = None) -> Response:
    return request(service.base_url, "POST", "/tasks", body, headers or JSON)


# -- the document -------------------------------------------------------------------------------

API_OPERATIONS = {
    ("post", "/tasks"),
    ("get", "/tasks"),
    ("get", "/tasks/{id}"),
    ("post", "/tasks/{id}/cancel"),
    ("post", "/tasks/{id}/retry"),
    ("post", "/tasks/cancel"),
    ("post", "/tasks/retry"),
    ("get", "/queues"),
    ("post", "/queues/{name}/pause"),
    ("post", "/queues/{name}/resume"),
    ("get", "/actions"),
    ("get", "/tasks/{id}/events"),
    ("get", "/tasks/{id}/diagnosis"),
    ("get", "/nodes"),
    ("get", "/stats"),
    ("get", "/dead-letters"),
    ("get", "/tasks/{id}/deliveries"),
    ("get", "/schedules"),
    ("get", "/schedules/{name}"),
    ("put", "/schedules/{name}"),
    ("delete", "/schedules/{name}"),
    ("post", "/schedules/{name}/trigger"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
}
# What each operation answers to the example request below (a good task, a plain listing,
# an unknown id, a queue paused then resumed, the document)
EXAMPLE_STATUS = {
    ("post", "/tasks"): 202,
    ("get", "/tasks"): 200,
    ("get", "/tasks/{id}"): 404,
    ("post", "/tasks/{id}/cancel"): 404,
    ("post", "/tasks/{id}/retry"): 404,
    ("post", "/tasks/cancel"): 200,
    ("post", "/tasks/retry"): 200,
    ("get", "/queues"): 200,
    ("post", "/queues/{name}/pause"): 200,
    ("post", "/queues/{name}/resume"): 200,
    ("get", "/actions"): 200,
    ("get", "/tasks/{id}/events"): 404,
    ("get", "/tasks/{id}/diagnosis"): 404,
    ("get", "/nodes"): 200,
    ("get", "/stats"): 200,
    ("get", "/dead-letters"): 200,
    ("get", "/tasks/{id}/deliveries"): 404,
    ("get", "/schedules"): 200,
    ("get", "/schedules/{name}"): 404,
    ("put", "/schedules/{name}"): 400,  # no body
    ("delete", "/schedules/{name}"): 404,
    ("post", "/schedules/{name}/trigger"): 404,
    ("get", "/healthz"): 200,
    ("get", "/readyz"): 200,
    ("get", "/metrics"): 200,
    ("get", "/openapi.json"): 200,
}


def test_the_document_is_valid_openapi_3_and_describes_every_endpoint(service):
    response = request(service.base_url, "GET", "/openapi.json")
    document = assert_sane(response, 200)

    # Valid against the OpenAPI 3.0 schema
    assert document["openapi"].startswith("3.0"), document["openapi"]
    errors = [
        error.message for error in jsonschema_rs.Draft4Validator(OPENAPI_30).iter_errors(document)
    ]
    assert not errors, errors
    # Every endpoint, and nothing else
    operations = {(method, path) for path, item in document["paths"].items() for method in item}
    assert operations == API_OPERATIONS
    # Every $ref points at a schema that exists
    schemas = document["components"]["schemas"]
    refs = set()

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                refs.add(node["$ref"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(document)
    assert refs and all(ref.removeprefix("#/components/schemas/") in schemas for ref in refs), refs
    # The query parameters say what the service accepts
    parameters = {p["name"]: p for p in document["paths"]["/tasks"]["get"]["parameters"]}
    assert parameters["status"]["schema"]["enum"] == list(STATUSES)
    assert (parameters["limit"]["schema"]["minimum"], parameters["limit"]["schema"]["maximum"]) == (
        1,
        1000,
    )
    # Every error status the service answers for POST is documented, as an Error body
    post = document["paths"]["/tasks"]["post"]["responses"]
    assert {"202", "400", "413", "415", "503"} <= set(post)
    for status in ("400", "413", "415", "503"):
        assert post[status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }
    # Each documented operation answers with the status the README gives, and documents it
    for method, path in sorted(operations):
        concrete = path.replace("{id}", "0b9f5c4e-8a43-4c59-9a3e-5d1f2b8f0c11")
        concrete = concrete.replace("{name}", "documented")
        body = {
            "/tasks": b'{"action": "good-openapi"}',
            "/tasks/cancel": b'{"ids": ["0b9f5c4e-8a43-4c59-9a3e-5d1f2b8f0c11"]}',
            "/tasks/retry": b'{"filter": {"queue": "documented"}}',
        }.get(path)
        answer = request(service.base_url, method.upper(), concrete, body, JSON)
        assert answer.status == EXAMPLE_STATUS[method, path], (method, path, answer.body)
        assert str(answer.status) in document["paths"][path][method]["responses"], (method, path)


# -- schemathesis -------------------------------------------------------------------------------

SCHEMATHESIS_CHECKS = [
    schemathesis_checks.not_a_server_error,
    schemathesis_checks.status_code_conformance,
    schemathesis_checks.content_type_conformance,
    schemathesis_checks.response_schema_conformance,
    schemathesis_checks.negative_data_rejection,
]
# Negative cases exist only where the schema constrains something
NEGATIVE = {
    "POST /tasks",
    "GET /tasks",
    "POST /tasks/cancel",
    "POST /tasks/retry",
    "POST /queues/{name}/pause",
    "POST /queues/{name}/resume",
}


def test_schemathesis_finds_no_server_error_and_no_answer_off_the_schema(service):
    # Data that breaks the schema (a body or a query value) is an invalid request: 400,
    # as the README's table says; or 413 when it is also over --max-body (a batch past
    # 1,000 tasks often is). Nothing else: not 404, 405 or 415.
    # The module's service has no --token-file: it serves its own machine without a token,
    # so the bearer scheme the document declares is left out here (test_auth.py tests it).
    config = schemathesis.Config.from_dict(
        {
            "checks": {"negative_data_rejection": {"expected-statuses": ["400", "413"]}},
            "generation": {"with-security-parameters": False},
        }
    )
    schema = schemathesis.openapi.from_url(f"{service.base_url}/openapi.json", config=config)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {operation.label for operation in operations} >= {
        "POST /tasks",
        "GET /tasks",
        "GET /tasks/{id}",
    }
    for operation in operations:
        modes = [GenerationMode.POSITIVE]
        if operation.label in NEGATIVE:
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(HYPOTHESIS, max_examples=40)
            def call_and_validate(case) -> None:
                case.call_and_validate(checks=SCHEMATHESIS_CHECKS)

            call_and_validate()


# -- hypothesis bodies --------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(*INT_RANGE)
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=25,
)
task_objects = st.dictionaries(
    st.sampled_from(["action", "data", "priority", "queue", "delay", "timeout", "priorty", ""])
    | st.text(max_size=8),
    json_values | st.text(max_size=MAX_ACTION_LENGTH + 5),
    max_size=3,
) | st.fixed_dictionaries(
    {"action": st.text(max_size=MAX_ACTION_LENGTH + 5)},
    optional={"data": st.none() | st.dictionaries(st.text(max_size=10), json_values, max_size=5)},
)


def storable(value: Any) -> bool:
    """Integers within 64 bits, and text without lone surrogates, all the way down."""
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return INT_RANGE[0] <= value < INT_RANGE[1]
    if isinstance(value, str):
        return not any(0xD800 <= ord(character) <= 0xDFFF for character in value)
    if isinstance(value, list):
        return all(storable(item) for item in value)
    if isinstance(value, dict):
        return all(storable(key) and storable(item) for key, item in value.items())
    return True


def is_number(value: Any, low: float, high: float) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and low <= value <= high


OPTION_RULES = {
    "priority": lambda v: not isinstance(v, bool) and isinstance(v, int) and 0 <= v <= 9,
    "queue": lambda v: isinstance(v, str) and re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", v),
    "delay": lambda v: is_number(v, 0, 10 * 366 * 86400),
    "timeout": lambda v: is_number(v, 0, 86400),
}


def valid_task(item: Any) -> bool:
    """What the README promises to accept as one task."""
    if not isinstance(item, dict) or not set(item) <= {"action", "data", *OPTION_RULES}:
        return False
    action, data = item.get("action"), item.get("data")
    return (
        isinstance(action, str)
        and 0 < len(action) <= MAX_ACTION_LENGTH
        and "\x00" not in action
        and (data is None or isinstance(data, dict))
        and storable(item)
        and all(bool(rule(item[name])) for name, rule in OPTION_RULES.items() if name in item)
    )


def _refuse(text: str) -> Any:
    raise ValueError(f"not strict JSON: {text}")


def _finite(text: str) -> float:
    value = float(text)
    return value if math.isfinite(value) else _refuse(text)


def _no_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    return dict(pairs) if len(set(keys)) == len(keys) else _refuse(f"repeated key in {keys}")


def accepted(body: bytes) -> bool:
    """Whether the README promises a 202 for ``body`` (not over --max-body): strict UTF-8
    JSON (no NaN or Infinity, no number out of range, no repeated key) holding a valid
    task object, or an array of 1 to 1,000 of them. Anything else is a 400."""
    try:
        value = json.loads(
            body.decode("utf-8"),
            parse_constant=_refuse,
            parse_float=_finite,
            object_pairs_hook=_no_repeated_keys,
        )
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False
    if isinstance(value, dict):
        return valid_task(value)
    return isinstance(value, list) and 1 <= len(value) <= 1000 and all(map(valid_task, value))


def newest_ids(service: ServiceProcess, count: int = 1) -> list[str]:
    """The ids of the ``count`` tasks accepted last, newest first."""
    return [task["id"] for task in list_tasks(service.base_url, limit=count)["tasks"]]


@given(value=json_values)
@HYPOTHESIS
def test_any_json_value_gets_a_json_answer(service, value):
    body = json.dumps(value).encode()
    assert_sane(post_bytes(service, body), 202 if accepted(body) else 400)


@given(item=task_objects)
@HYPOTHESIS
def test_task_objects_are_accepted_exactly_when_valid(service, item):
    before = newest_ids(service)
    response = post_bytes(service, json.dumps(item).encode())
    body = assert_sane(response, 202 if valid_task(item) else 400)
    if response.status == 202:
        assert set(body) == {"id", "status"} and body["status"] == "queued", body
        assert newest_ids(service) == [body["id"]]
    else:
        assert newest_ids(service) == before, "a refused task was stored"


@given(items=st.lists(task_objects, min_size=1, max_size=4))
@HYPOTHESIS
def test_batches_are_all_or_nothing(service, items):
    before = newest_ids(service)
    response = post_bytes(service, json.dumps(items).encode())
    if all(valid_task(item) for item in items):
        # All: every task stored, in order
        body = assert_sane(response, 202)
        assert body["count"] == len(items)
        ids = [task["id"] for task in body["tasks"]]
        assert newest_ids(service, len(items)) == ids[::-1]
    else:
        # Nothing: a 400 naming the first bad item (or the number no task may hold,
        # which fails the whole body as JSON), and not one of the valid items stored
        error = assert_sane(response, 400)["error"]
        if all(storable(item) for item in items):
            first_bad = next(i for i, item in enumerate(items) if not valid_task(item))
            assert error.startswith(f"task {first_bad}:"), error
        else:
            assert error.startswith("invalid JSON"), error
        assert newest_ids(service) == before, "a refused batch stored some of its tasks"


@given(body=st.binary(max_size=300))
@HYPOTHESIS
def test_arbitrary_bytes_get_a_json_answer(service, body):
    assert_sane(post_bytes(service, body), 202 if accepted(body) else 400)


@given(
    depth=st.integers(1, 12_000), opener=st.sampled_from(["[", '{"a":']), inside_data=st.booleans()
)
@HYPOTHESIS
def test_deep_nesting_gets_a_json_answer(service, depth, opener, inside_data):
    closer = "]" if opener == "[" else "}"
    nested = opener * depth + "1" + closer * depth
    body = f'{{"action": "deep", "data": {{"x": {nested}}}}}' if inside_data else nested
    if len(body) > MAX_BODY_BYTES:  # from about 10,900 levels of '{"a":'
        expected = 413
    elif inside_data and depth <= MAX_NESTED_IN_DATA:
        expected = 202
    else:  # not a task at all, or nested deeper than a stored payload can be
        expected = 400
    assert_sane(post_bytes(service, body.encode()), expected)


# -- hostile input, explicitly ------------------------------------------------------------------


def raw_exchange(
    service: ServiceProcess, data: bytes, then_closed: bool = False
) -> tuple[int, dict[str, str], bytes, float]:
    """Send ``data`` and read the answer while keeping the connection open for writing,
    as a client still in the middle of its body would; return status, headers, body and
    the seconds it took. ``then_closed``: also check that the server closed the
    connection after that answer instead of reading what follows as a new request."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", service.port), timeout=PROMPT_SECONDS) as sock:
        sock.sendall(data)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed without an answer: {received!r}"
            received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = sock.recv(65536)
            assert chunk, "connection closed in the middle of the answer"
            body += chunk
        body, rest = body[:length], body[length:]
        if then_closed:
            while chunk := sock.recv(65536):
                rest += chunk
            assert not rest, f"the connection stayed open and answered again: {rest!r}"
    return int(lines[0].split()[1]), headers, body, time.monotonic() - started


POST_HEAD = b"POST /tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"


@pytest.mark.parametrize(
    ("head", "partial_body"),
    [
        (b"Content-Length: 1073741824\r\n", b'{"action": "x", "data": {"pad": "'),
        (b"Transfer-Encoding: chunked\r\n", b'40000000\r\n{"action": "x", "data": {"pad": "'),
        (b"Transfer-Encoding: chunked\r\n", (b"2000\r\n" + b" " * 0x2000 + b"\r\n") * 9),
    ],
    ids=["content-length-1GB", "chunk-header-1GB", "chunks-past-the-limit-never-ending"],
)
def test_an_oversized_body_gets_413_without_the_server_reading_it(service, head, partial_body):
    request_bytes = POST_HEAD + head + b"\r\n" + partial_body
    status, headers, body, seconds = raw_exchange(service, request_bytes, then_closed=True)
    assert status == 413, body
    assert seconds < PROMPT_SECONDS
    assert headers["content-type"] == "application/json" and orjson.loads(body)["error"]
    assert headers.get("connection", "").lower() == "close"


@pytest.mark.parametrize(
    ("chunks", "then_closed"),
    [
        pytest.param(
            b"zz\r\n{}\r\n0\r\n\r\nGET /tasks HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
            True,
            id="size-not-hex",
        ),
        pytest.param(
            b"3\r\nabcXYGET /tasks HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
            True,
            id="no-crlf-after-data",
        ),
        # cheroot reads a negative size as the last chunk: an empty body, then a new request
        pytest.param(b"-5\r\nabcde\r\n0\r\n\r\n", False, id="negative-size"),
        pytest.param(
            b"-5\r\nGET /tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
            True,
            id="negative-size-hides-a-request",
        ),
    ],
)
def test_malformed_chunked_framing_gets_a_json_400(service, chunks, then_closed):
    # After broken framing the stream is not at a request boundary: a request hidden
    # in the leftovers must not be served.
    status, headers, body, seconds = raw_exchange(
        service, POST_HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + chunks, then_closed
    )
    assert status == 400, body
    assert headers["content-type"] == "application/json" and orjson.loads(body)["error"]
    assert b"Traceback" not in body


@pytest.mark.parametrize(
    "content_type",
    [
        "text/json",
        "application/json-seq",
        "json",
        "application/javascript",
        "*/*",
        "application/jsonx",
    ],
)
def test_more_wrong_content_types(service, content_type):
    response = post_bytes(service, b'{"action": "bad"}', {"Content-Type": content_type})
    assert_sane(response, 415)


@pytest.mark.parametrize(
    "content_type",
    [
        "APPLICATION/JSON",
        "application/vnd.api+json",
        "application/json;charset=UTF-8",
    ],
)
def test_json_media_types_in_other_spellings_are_accepted(service, content_type):
    response = post_bytes(service, b'{"action": "good-media-type"}', {"Content-Type": content_type})
    assert_sane(response, 202)


@pytest.mark.parametrize(
    "body",
    [
        b'{"action": "a\xc3\x28"}',  # an invalid continuation byte
        b'{"action": "\xc0\xaf"}',  # an overlong encoding of "/"
        b'{"action": "\xed\xa0\x80"}',  # a UTF-16 surrogate encoded as UTF-8
        b'{"action": "x", "data": {"t": "\xe2\x82"}}',  # a truncated sequence
        b'{"action": "x", "data": {"t": "\\ud800"}}',  # a lone surrogate escape
        b'{"action": "\\udc00x"}',
    ],
    ids=[
        "bad-continuation",
        "overlong",
        "encoded-surrogate",
        "truncated",
        "lone-high-escape",
        "lone-low-escape",
    ],
)
def test_malformed_utf8_and_lone_surrogates(service, body):
    assert_sane(post_bytes(service, body), 400)


@pytest.mark.parametrize(
    "body",
    [
        "[" * 10_000 + "]" * 10_000,
        '{"a":' * 10_000 + "1" + "}" * 10_000,
        '{"action": "deep", "data": {"x": ' + "[" * 10_000 + "]" * 10_000 + "}}",
        '{"action": "deep", "data": ' + '{"a":' * 10_000 + "{}" + "}" * 10_000 + "}",
        "[" + '{"action": "deep", "data": {"x": ' + "[" * 10_000 + "]" * 10_000 + "}}]",
    ],
    ids=["arrays", "objects", "array-in-data", "objects-as-data", "in-a-batch"],
)
def test_json_nested_10000_levels(service, body):
    assert_sane(post_bytes(service, body.encode()), 400)


@pytest.mark.parametrize(
    "number",
    [
        "1e400",
        "-1e400",
        "1e999999999",
        str(2**64),
        str(-(2**63) - 1),
        "9" * 400,
        "-" + "9" * 5000,
    ],
)
def test_numbers_out_of_range_are_refused(service, number):
    body = f'{{"action": "bad-number", "data": {{"n": {number}}}}}'.encode()
    error = assert_sane(post_bytes(service, body), 400)["error"]
    assert error.startswith("invalid JSON"), error


@pytest.mark.parametrize(
    "number",
    [
        str(2**64 - 1),
        str(-(2**63)),
        "1.7976931348623157e308",
        "5e-324",
        "-0.0",
        "0",
    ],
)
def test_numbers_at_the_edges_are_kept_exactly(service, number):
    body = f'{{"action": "good-number", "data": {{"n": {number}}}}}'.encode()
    task_id = assert_sane(post_bytes(service, body), 202)["id"]
    stored = get_task(service.base_url, task_id)["payload"]["data"]["n"]
    # repr, not ==: -0.0 == 0.0, and 1 == 1.0
    assert repr(stored) == repr(json.loads(number)), (stored, number)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "nan", "inf"])
def test_nan_and_infinity_literals(service, literal):
    body = f'{{"action": "bad", "data": {{"deep": [1, {{"n": {literal}}}]}}}}'.encode()
    assert_sane(post_bytes(service, body), 400)


@pytest.mark.parametrize(
    "body",
    [
        b'{"action": "bad", "data": {"k": 1, "k": 2}}',
        b'{"action": "bad", "data": {"a": [{"x": 1, "x": 1}]}}',
        b'{"action": "bad", "data": {}, "data": {}}',
        b'[{"action": "bad"}, {"action": "bad", "action": "bad"}]',
    ],
)
def test_duplicate_keys_anywhere(service, body):
    error = assert_sane(post_bytes(service, body), 400)["error"]
    assert "more than once" in error, error


@pytest.mark.parametrize(
    ("value", "index", "clue"),
    [
        ([{"action": "bad"}, {"action": "bad", "extra": 1}], 1, "extra"),
        ([{"action": "bad"}, {"action": "bad"}, {"action": 7}], 2, "string"),
        ([{"action": "bad"}, {"action": ["bad"]}], 1, "string"),
        ([{"action": "bad"}, {"action": "bad", "data": []}], 1, "data"),
        ([{"action": "bad"}, "bad"], 1, "object"),
    ],
)
def test_batches_name_the_bad_item(service, value, index, clue):
    error = assert_sane(post_bytes(service, orjson.dumps(value)), 400)["error"]
    assert error.startswith(f"task {index}:") and clue in error, error


def test_a_batch_over_1000_tasks_is_refused(service):
    body = orjson.dumps([{"action": "bad"}] * 1001)
    assert "1000" in assert_sane(post_bytes(service, body), 400)["error"]


@pytest.mark.parametrize(
    "query",
    [
        "status=%00",
        "status=" + "a" * 10_000,
        "status=%ff",
        "status=queued%00",
        "limit=%00",
        "limit=" + "9" * 10_000,
        "limit=-0",
        "limit=1%20",
        "limit=1&status=nope",
        "limit=%ef%bc%91",  # a full-width digit one
    ],
)
def test_more_bad_query_values(service, query):
    assert_sane(request(service.base_url, "GET", f"/tasks?{query}"), 400)


@pytest.mark.parametrize(
    "path",
    [
        "/tasks//x",
        "/tasks/..%2f",
        "/tasks/%2e%2e",
        "/tasks/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/tasks/%ff",
        "/tasks/x%2fy",
        "/tasks/%20",
        "/tasks/" + quote("x' OR '1'='1"),
        "/tasks/" + quote("%"),
        "/tasks/a%00b",
        "/tasks/" + "a" * 100_000,
    ],
)
def test_odd_paths_under_tasks(service, path):
    assert_sane(request(service.base_url, "GET", path), 404)


def test_a_trailing_slash_is_ignored(service):
    # POST /tasks/ queues like POST /tasks
    queued = assert_sane(
        request(service.base_url, "POST", "/tasks/", b'{"action": "good-slash"}', JSON), 202
    )
    assert get_task(service.base_url, queued["id"])["action"] == "good-slash"
    # GET /tasks/ lists like GET /tasks (the task just queued first)
    listing = assert_sane(request(service.base_url, "GET", "/tasks/?limit=1"), 200)
    assert [task["id"] for task in listing["tasks"]] == [queued["id"]]


def test_a_good_task_completes_right_after_hostile_requests(service):
    # Given: hostile requests of each kind, each refused with its status
    status, _, _, _ = raw_exchange(
        service, POST_HEAD + b"Content-Length: 1073741824\r\n\r\n{", then_closed=True
    )
    assert status == 413
    status, _, _, _ = raw_exchange(
        service, POST_HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n", then_closed=True
    )
    assert status == 400
    for body in (
        b"[" * 10_000 + b"]" * 10_000,
        b'{"action": "bad", "data": {"n": NaN}}',
        b'{"action": "a\xc3\x28"}',
        b'{"action": "bad", "data": {"n": 1e400}}',
    ):
        assert_sane(post_bytes(service, body), 400)

    # When: a good task is posted
    task_id = submit(service.base_url, "uppercase", {"text": "still here"})

    # Then: it completes
    assert wait_for_status(service.base_url, task_id, "completed")["result"] == {
        "output": "STILL HERE"
    }


# -- on every database --------------------------------------------------------------------------


def test_a_nul_character_is_refused_or_not_found_on_every_database(db_url, start_service):
    """PostgreSQL text cannot hold U+0000: it must not turn into a 503 or a 500 there."""
    service = start_service(db_url, "--simulated-work", "0")
    assert "U+0000" in assert_sane(post_bytes(service, b'{"action": "a\\u0000b"}'), 400)["error"]
    assert_sane(post_bytes(service, b'[{"action": "ok"}, {"action": "\\u0000"}]'), 400)
    for path in ("/tasks/%00", "/tasks/a%00b"):
        assert_sane(request(service.base_url, "GET", path), 404)
    # A NUL inside data is JSON text like any other, stored and run
    task_id = assert_sane(post_bytes(service, b'{"action": "x", "data": {"t": "a\\u0000b"}}'), 202)[
        "id"
    ]
    task = wait_for_status(service.base_url, task_id, "completed")
    assert task["payload"]["data"] == {"t": "a\x00b"}
    assert "unhandled error" not in service.log()
