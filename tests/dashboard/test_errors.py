"""An API that fails shows as a message on the page, never as a blank page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.web.client import request, submit, wait_for_status

from .helpers import counter, open_dashboard, refresh_now

pytestmark = pytest.mark.system


def message(page):
    return page.locator("#message")


def test_an_error_of_the_api_is_a_message_with_the_api_s_words(service, page):
    base = service.base_url
    # A task that does not exist: the 404's error, on a page that still says where it is
    page.goto(f"{base}/#/task/no-such-task")
    expect(message(page)).to_have_text(
        re.compile(r"^GET /tasks/no-such-task failed \(404\): task not found")
    )
    expect(message(page)).to_have_class("message error")
    expect(page.locator(".load-error")).to_contain_text("task not found")
    expect(page.get_by_role("heading", level=1)).to_have_text("Task")
    # A filter the API refuses: its 400, word for word
    refused = request(base, "GET", "/tasks?queue=a+b")
    assert refused.status == 400
    page.goto(f"{base}/#/tasks?queue=a+b")
    expect(message(page)).to_contain_text(f"(400): {refused.json()['error']}")
    expect(page.get_by_label("Queue", exact=True)).to_have_value("a b")
    # Dismissed, it goes
    message(page).get_by_role("button", name="Dismiss").click()
    expect(message(page)).to_be_hidden()
    # A page the dashboard does not have
    page.goto(f"{base}/#/nowhere")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")


def test_a_service_that_stops_answering_is_a_message_until_it_is_back(service, page):
    base = service.base_url
    task_id = submit(base, "uppercase")
    wait_for_status(base, task_id, "completed")
    open_dashboard(page, base)
    expect(counter(page, "completed")).to_have_text("1")

    service.kill()
    refresh_now(page)
    expect(message(page)).to_contain_text("Cannot reach the service")
    expect(counter(page, "completed")).to_have_text("1")  # what it showed last stays

    service.start()  # the same port and database
    refresh_now(page)
    expect(message(page)).to_be_hidden()
    expect(counter(page, "completed")).to_have_text("1")
