"""Queues in a browser: counts as the API has them, pausing and resuming."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.web.client import submit, wait_for_status, wait_until_all

from .helpers import answer, api, enqueue, open_dashboard, refresh_now

pytestmark = pytest.mark.system


def queue_row(page, name: str):
    return page.locator("tbody tr").filter(has=page.get_by_role("link", name=name, exact=True))


def cell(row, label: str):
    return row.locator(f'td[data-label="{label}"]')


def queue_of(base_url: str, name: str) -> dict:
    return next(q for q in api(base_url, "/queues")["queues"] if q["name"] == name)


def test_pause_a_queue_then_posted_tasks_wait_until_it_is_resumed(service, page):
    base = service.base_url
    first = enqueue(base, {"action": "uppercase", "queue": "mail"})
    wait_for_status(base, first, "completed")
    open_dashboard(page, base, "queues")
    row = queue_row(page, "mail")
    expect(cell(row, "completed")).to_have_text("1")
    expect(row.locator(".badge")).to_have_text("active")

    # When the queue is paused from the page
    row.get_by_role("button", name="Pause queue mail").click()
    expect(answer(page)).to_have_text(
        "Paused queue mail: no node claims its tasks until it is resumed."
    )
    expect(row.locator(".badge")).to_have_text("paused")
    expect(row).to_contain_text("by 127.0.0.1")
    assert queue_of(base, "mail")["paused"] is True

    # Then tasks POSTed to it wait, and the page shows them waiting
    waiting = [enqueue(base, {"action": "uppercase", "queue": "mail"}) for _ in range(3)]
    refresh_now(page)
    expect(cell(row, "queued")).to_have_text("3")
    expect(cell(row, "Oldest due")).not_to_have_text("—")
    for task_id in waiting:
        task = api(base, f"/tasks/{task_id}")
        reasons = api(base, f"/tasks/{task_id}/diagnosis")["reasons"]
        assert (task["status"], reasons[0]["code"]) == ("queued", "queue_paused"), reasons

    # When it is resumed, they run
    row.get_by_role("button", name="Resume queue mail").click()
    expect(answer(page)).to_have_text("Resumed queue mail.")
    wait_until_all(base, waiting, ("completed",))
    refresh_now(page)
    expect(cell(row, "completed")).to_have_text("4")
    expect(cell(row, "queued")).to_have_text("0")
    expect(row.locator(".badge")).to_have_text("active")
    assert queue_of(base, "mail")["paused"] is False


def test_a_queue_with_no_task_yet_is_paused_by_name(service, page):
    base = service.base_url
    submit(base, "uppercase")
    open_dashboard(page, base, "queues")
    expect(page.locator("tbody tr")).to_have_count(1)
    page.get_by_label("Pause a queue by name").fill("reports")
    page.get_by_label("Pause a queue by name").press("Enter")
    expect(answer(page)).to_contain_text("Paused queue reports")
    expect(queue_row(page, "reports").locator(".badge")).to_have_text("paused")
    assert queue_of(base, "reports")["paused"] is True
    # A name the API refuses: its error, on the page
    page.get_by_label("Pause a queue by name").fill("no spaces")
    page.get_by_role("button", name="Pause", exact=True).click()
    expect(answer(page)).to_have_text(re.compile(r"^POST /queues/no%20spaces/pause failed \(400\)"))
