"""Input checks, without a server: every rule a body or query string must pass."""

from __future__ import annotations

import pytest

from models import InvalidInput
from web.validation import (
    TaskInput,
    check_batch,
    check_limit,
    check_status,
    check_task,
    parse_json,
    single,
)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b"{",
        b"{'a': 1}",
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b"[1e999]",
        b'{"action": "\xff"}',
        b"[" * 2000 + b"]" * 2000,
    ],
)
def test_bodies_that_are_not_strict_json_are_invalid_json(body):
    with pytest.raises(InvalidInput, match="^invalid JSON"):
        parse_json(body)


@pytest.mark.parametrize(
    "body",
    [
        b'{"action": "a", "action": "b"}',
        b'{"action": "a", "data": {"k": 1, "k": 2}}',
        b'[{"action": "a"}, {"action": "b", "data": {}, "data": {}}]',
    ],
)
def test_repeated_keys_are_refused_wherever_they_are(body):
    with pytest.raises(InvalidInput, match="appears more than once"):
        parse_json(body)


def test_deep_objects_are_refused_not_crashed_on():
    body = ('{"a":' * 1000 + "1" + "}" * 1000).encode()
    with pytest.raises(InvalidInput, match="invalid JSON"):
        parse_json(body)


def test_integers_are_kept_exactly_or_refused():
    assert parse_json(b'{"n": 18446744073709551615, "m": -9223372036854775808}') == {
        "n": 2**64 - 1,
        "m": -(2**63),
    }
    assert parse_json(b'{"x": 1.5e300}') == {"x": 1.5e300}
    for body in (
        b'{"n": 123456789012345678901234567890}',
        b"[18446744073709551616]",
        b"[-9223372036854775809]",
    ):
        with pytest.raises(InvalidInput, match="integer out of the 64-bit range"):
            parse_json(body)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({}, "action required"),
        ({"action": None}, "action required"),
        ({"action": ""}, "action required"),
        ({"action": 5}, "action must be a string"),
        ({"action": ["x"]}, "action must be a string"),
        ({"action": "x" * 201}, "at most 200 characters"),
        ({"action": "x", "data": [1]}, "data must be a JSON object"),
        ({"action": "x", "data": "text"}, "data must be a JSON object"),
        ({"action": "x", "priorty": 1}, "unknown field 'priorty'"),
        ("uppercase", "a task must be a JSON object"),
    ],
)
def test_bad_tasks_say_what_is_wrong(item, message):
    with pytest.raises(InvalidInput, match=message):
        check_task(item)


def test_a_good_task_defaults_data_to_an_empty_object():
    assert check_task({"action": "sum"}) == TaskInput("sum", {})
    assert check_task({"action": "sum", "data": None}) == TaskInput("sum", {})
    assert check_task({"action": "sum", "data": {"numbers": [1]}}) == TaskInput(
        "sum", {"numbers": [1]}
    )


def test_a_batch_names_the_first_bad_index():
    with pytest.raises(InvalidInput, match="^task 2: action required$"):
        check_batch([{"action": "a"}, {"action": "b"}, {"data": {}}, {}])
    with pytest.raises(InvalidInput, match="at least one"):
        check_batch([])
    with pytest.raises(InvalidInput, match="at most 1000"):
        check_batch([{"action": "a"}] * 1001)
    assert len(check_batch([{"action": "a"}] * 1000)) == 1000


@pytest.mark.parametrize("value", ["0", "1001", "-1", "abc", "1.5", "²", "", " 5", "9" * 50])
def test_bad_limits(value):
    with pytest.raises(InvalidInput, match="limit must be an integer from 1 to 1000"):
        check_limit(value)


def test_good_limits():
    assert check_limit(None) == 100
    assert check_limit("1") == 1
    assert check_limit("1000") == 1000


@pytest.mark.parametrize("value", ["done", "", "QUEUED", "queued,dead"])
def test_bad_statuses(value):
    with pytest.raises(InvalidInput, match="status must be one of"):
        check_status(value)


@pytest.mark.parametrize("name", ["limit", "status"])
def test_a_parameter_given_twice_is_refused(name):
    with pytest.raises(InvalidInput, match=f"^{name} may be given only once$"):
        single({name: ["1", "2"]}, name)
    assert single({name: ["1"]}, name) == "1"
    assert single({}, name) is None
