"""The overview in a browser: counters as the API counts them, the last hour, the nodes,
and a refresh every few seconds without reloading the page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.web.client import submit, wait_for_status, wait_until_all

from .helpers import (
    REFRESH_WAIT_MS,
    api,
    counter,
    counts_by_status,
    enqueue,
    open_dashboard,
    post,
)

pytestmark = pytest.mark.system


def test_the_counters_match_the_api_and_follow_it_without_a_reload(service, page):
    base = service.base_url
    # Given tasks in every status, none of which changes during the test
    done = [submit(base, "uppercase", {"text": str(n)}) for n in range(3)]
    dead = [submit(base, "refuses") for _ in range(2)]
    retrying = submit(base, "fails")  # its retry is a minute away
    running = submit(base, "busy")
    for _ in range(2):
        enqueue(base, {"action": "uppercase", "delay": 3600})
    canceled = enqueue(base, {"action": "uppercase", "delay": 3600})
    post(base, f"/tasks/{canceled}/cancel")
    post(base, "/queues/held/pause")
    for _ in range(4):
        enqueue(base, {"action": "uppercase", "queue": "held"})
    wait_until_all(base, done, ("completed",))
    wait_until_all(base, dead, ("dead",))
    wait_for_status(base, retrying, "retrying")
    wait_for_status(base, running, "running")
    counts = counts_by_status(base)
    assert counts == {
        "scheduled": 2,
        "queued": 4,
        "running": 1,
        "retrying": 1,
        "completed": 3,
        "dead": 2,
        "canceled": 1,
    }

    # When the overview opens, then each counter is the API's, and links to its tasks
    open_dashboard(page, base)
    for status, count in counts.items():
        expect(counter(page, status)).to_have_text(str(count))
    expect(page.locator('.counter[data-status="dead"]')).to_have_attribute(
        "href", "#/tasks?status=dead"
    )
    # The charts sum up /stats; the node is listed with its workers
    minutes = api(base, "/stats")["minutes"]
    total = {key: sum(m[key] for m in minutes) for key in ("completed", "failed", "dead")}
    assert total == {"completed": 3, "failed": 3, "dead": 2}, minutes
    expect(page.get_by_role("img", name=re.compile("^In the last hour:"))).to_have_attribute(
        "aria-label", "In the last hour: 3 completed, 3 failed attempts (2 of them dead)"
    )
    expect(page.get_by_role("img", name=re.compile("longest wait"))).to_be_visible()
    [node] = api(base, "/nodes")["nodes"]
    row = page.locator(".nodes tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(node["name"])
    expect(row.locator(".badge")).to_have_text("alive")
    expect(row).to_contain_text(re.compile(r"\d+ busy, \d+ idle"))

    # When tasks arrive, the counters follow within a refresh, with no reload
    page.evaluate("window.sameDocument = true")
    for _ in range(3):
        enqueue(base, {"action": "uppercase", "delay": 3600})
    post(base, f"/tasks/{running}/cancel")
    wait_for_status(base, running, "canceled")
    expect(counter(page, "scheduled")).to_have_text("5", timeout=REFRESH_WAIT_MS)
    expect(counter(page, "canceled")).to_have_text("2", timeout=REFRESH_WAIT_MS)
    expect(counter(page, "running")).to_have_text("0", timeout=REFRESH_WAIT_MS)
    assert page.evaluate("window.sameDocument") is True
    assert counts_by_status(base)["scheduled"] == 5


def test_a_counter_opens_the_task_list_filtered_by_its_status(service, page):
    base = service.base_url
    dead = submit(base, "refuses")
    submit(base, "uppercase")
    wait_for_status(base, dead, "dead")
    open_dashboard(page, base)
    expect(counter(page, "dead")).to_have_text("1")
    page.locator('.counter[data-status="dead"]').click()
    expect(page).to_have_url(re.compile(r"#/tasks\?status=dead$"))
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody tr .badge")).to_have_text("dead")
    expect(page.get_by_role("checkbox", name="dead")).to_be_checked()
    expect(page.locator("td code.id")).to_have_attribute("title", dead)
