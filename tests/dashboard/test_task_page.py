"""One task in a browser: its error, history and diagnosis, and the Cancel and Retry buttons."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.web.client import get_task, submit, wait_for_status

from .helpers import answer, api, enqueue, open_dashboard, post, refresh_now

pytestmark = pytest.mark.system


def kinds(page):
    return page.locator(".timeline li strong")


def part(page, heading: str):
    """The part of the task page under this heading."""
    return page.locator(".task section").filter(
        has=page.get_by_role("heading", name=heading, exact=True)
    )


def test_a_dead_task_shows_its_error_and_history_and_retry_completes_it(service, page):
    base = service.base_url
    task_id = submit(base, "dies_first_time", {"order": 4711})
    wait_for_status(base, task_id, "dead")

    open_dashboard(page, base, f"task/{task_id}")
    expect(page.locator("h1")).to_contain_text("dies_first_time")
    expect(page.locator("h1 .badge")).to_have_text("dead")
    expect(page.locator(".failure .error-text")).to_have_text(
        "Permanent: the first attempt never works"
    )
    task = get_task(base, task_id)
    expect(page.locator(".failure .traceback")).to_have_text(task["traceback"])
    expect(page.locator(".failure .traceback")).to_contain_text("dies_first_time")
    # The payload pretty-printed, as the API has it
    expect(part(page, "Payload").locator("pre")).to_have_text(json.dumps(task["payload"], indent=2))
    expect(kinds(page)).to_have_text(["Created", "Claimed", "Started", "Failed"])
    expect(page.locator(".timeline li").last).to_contain_text("then dead")
    # The diagnosis in the API's words
    [reason] = api(base, f"/tasks/{task_id}/diagnosis")["reasons"]
    expect(page.locator(".diagnosis .reasons li")).to_contain_text(reason["message"])
    expect(page.get_by_role("button", name="Cancel")).to_be_disabled()

    page.get_by_role("button", name="Retry").click()
    expect(answer(page)).to_have_text(
        "Retried (200): the task is queued again, with 2 attempts left."
    )
    # Then the page follows it to completed at its next refresh
    wait_for_status(base, task_id, "completed")
    refresh_now(page)
    expect(page.locator("h1 .badge")).to_have_text("completed")
    expect(part(page, "Result").locator("pre")).to_have_text(
        json.dumps({"output": "worked on attempt 2"}, indent=2)
    )
    first, again = ["Created", "Claimed", "Started", "Failed"], ["Claimed", "Started", "Completed"]
    expect(kinds(page)).to_have_text([*first, "Retried by hand", *again])
    expect(page.locator(".failure")).to_have_count(0)  # a completed attempt clears the error
    assert get_task(base, task_id)["status"] == "completed"


def test_cancel_a_scheduled_task_with_the_keyboard(service, page):
    base = service.base_url
    task_id = enqueue(base, {"action": "uppercase", "delay": 3600})
    open_dashboard(page, base, f"task/{task_id}")
    expect(page.locator(".diagnosis")).to_contain_text("due in")
    expect(page.get_by_role("button", name="Retry")).to_be_disabled()

    page.get_by_role("button", name="Cancel").focus()
    page.keyboard.press("Enter")

    expect(answer(page)).to_have_text("Canceled (200): the task is now canceled.")
    expect(page.locator("h1 .badge")).to_have_text("canceled")
    expect(page.get_by_role("button", name="Cancel")).to_be_disabled()
    expect(page.get_by_role("button", name="Retry")).to_be_enabled()
    expect(kinds(page).last).to_have_text("Canceled")
    assert get_task(base, task_id)["status"] == "canceled"


def test_cancel_a_running_task_asks_it_to_stop(service, page):
    base = service.base_url
    task_id = submit(base, "busy")
    wait_for_status(base, task_id, "running")
    open_dashboard(page, base, f"task/{task_id}")
    expect(page.locator("h1 .badge")).to_have_text("running")
    expect(page.get_by_role("progressbar")).to_have_attribute("value", "0.4")
    page.get_by_role("button", name="Cancel").click()
    expect(answer(page)).to_contain_text("Cancel asked (202)")
    wait_for_status(base, task_id, "canceled")
    refresh_now(page)
    expect(page.locator("h1 .badge")).to_have_text("canceled")
    expect(page.locator(".failure .error-text")).to_have_text(
        "RuntimeError: stopped early: canceled"
    )


def test_a_button_the_api_refuses_shows_the_api_s_answer(service, page):
    base = service.base_url
    post(base, "/queues/held/pause")
    task_id = enqueue(base, {"action": "uppercase", "queue": "held"})
    # The page's clock stands still, so it shows the task as queued while it is canceled
    open_dashboard(page, base, f"task/{task_id}")
    expect(page.locator("h1 .badge")).to_have_text("queued")
    page.clock.pause_at(page.evaluate("Date.now()") / 1000 + 0.5)  # seconds; no refresh due
    post(base, f"/tasks/{task_id}/cancel")

    page.get_by_role("button", name="Cancel").click()

    expect(answer(page)).to_have_text(
        f"POST /tasks/{task_id}/cancel failed (409): task is canceled"
    )
    expect(answer(page)).to_have_class("answer error")
    expect(page.locator("h1 .badge")).to_have_text("canceled")  # read again after the answer
