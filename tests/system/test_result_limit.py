"""--max-result-bytes through the command line: its default (1 MiB) and the flag."""

from __future__ import annotations

import pytest

from tests.web.client import post_json, request, submit, wait_for_status

pytestmark = pytest.mark.system

MIB = 1024 * 1024


def test_a_result_over_the_default_mib_ends_dead_and_is_not_stored(sqlite_url, start_service):
    # Given: the default limit, and a body limit large enough to send 1.5 MB of text
    service = start_service(
        sqlite_url,
        "--simulated-work",
        "0",
        "--max-body",
        str(2 * MIB),
        "--max-attempts",
        "2",
        "--retry-backoff",
        "0",
    )
    # When: uppercase returns it all back
    task_id = submit(service.base_url, "uppercase", {"text": "a" * (3 * MIB // 2)})
    # Then: each attempt fails on the size, and the task ends dead without a result
    task = wait_for_status(service.base_url, task_id, "dead")
    assert task["attempts"] == 2 and task["result"] is None
    assert task["error"].startswith("ResultTooLarge: the result is ")
    assert task["error"].endswith(f"over the limit of {MIB} (--max-result-bytes)")
    # And: a result under the limit is kept as before
    small = submit(service.base_url, "uppercase", {"text": "a" * 1000})
    assert wait_for_status(service.base_url, small, "completed")["result"] == {"output": "A" * 1000}


def test_the_flag_sets_the_limit(sqlite_url, start_service):
    service = start_service(
        sqlite_url, "--simulated-work", "0", "--max-result-bytes", "100", "--max-attempts", "1"
    )
    # {"output":"BBB…"}: 11 + 100 + 2 bytes
    accepted = post_json(service.base_url, {"action": "uppercase", "data": {"text": "b" * 100}})
    assert accepted.status == 202
    task = wait_for_status(service.base_url, accepted.json()["id"], "dead")
    assert task["error"] == (
        "ResultTooLarge: the result is 113 bytes as JSON, over the limit of 100 "
        "(--max-result-bytes)"
    )
    assert request(service.base_url, "GET", "/tasks?limit=1").status == 200
