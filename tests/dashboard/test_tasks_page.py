"""The task list in a browser: its filters are GET /tasks's, and its pages the API's pages."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

from tests.web.client import list_tasks, submit, wait_for, wait_for_status, wait_until_all

from .helpers import api, enqueue, open_dashboard, post

pytestmark = pytest.mark.system

PAGE_SIZE = 10


def api_pages(base_url: str, **filters) -> list[list[str]]:
    """The ids of every page the API gives for these filters, following next_cursor."""
    pages, cursor = [], None
    while True:
        query = {**filters, "limit": PAGE_SIZE, **({"cursor": cursor} if cursor else {})}
        page = api(base_url, f"/tasks?{urlencode(query)}")
        pages.append([task["id"] for task in page["tasks"]])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages


def shown_ids(page):
    return page.locator("tbody td code.id")


def short(ids: list[str]) -> list[str]:
    return [task_id[:8] for task_id in ids]


def test_filters_and_cursor_pages_match_the_api(service, page):
    base = service.base_url
    # Given 23 waiting tasks of one action and queue, among others that must not show
    post(base, "/queues/paging/pause")
    post(base, "/tasks", [{"action": "pager", "queue": "paging"} for _ in range(23)])
    post(base, "/tasks", [{"action": "other", "queue": "paging"} for _ in range(2)])
    done = submit(base, "pager")  # same action, another queue, completed
    wait_for_status(base, done, "completed")
    expected = api_pages(base, status="queued", queue="paging", action="pager")
    assert [len(ids) for ids in expected] == [10, 10, 3]

    # When the filters are set in the form
    open_dashboard(page, base, "tasks")
    page.get_by_role("checkbox", name="queued").check()
    page.get_by_label("Queue", exact=True).fill("paging")
    page.get_by_label("Action", exact=True).fill("pager")
    page.get_by_label("Per page", exact=True).select_option(str(PAGE_SIZE))
    page.get_by_role("button", name="Apply").click()

    # Then the address and the API link hold the same query, and each page is the API's
    expect(page).to_have_url(
        re.compile(r"#/tasks\?status=queued&queue=paging&action=pager&limit=10$")
    )
    expect(page.locator(".api code")).to_have_text(
        "GET /tasks?status=queued&queue=paging&action=pager&limit=10"
    )
    expect(shown_ids(page)).to_have_text(short(expected[0]))
    expect(page.locator(".summary")).to_have_text("10 tasks on page 1, newest first.")
    page.get_by_role("link", name="Older →").click()
    expect(shown_ids(page)).to_have_text(short(expected[1]))
    page.get_by_role("link", name="Older →").click()
    expect(shown_ids(page)).to_have_text(short(expected[2]))
    expect(page.locator(".summary")).to_have_text("3 tasks on page 3, newest first.")
    expect(page.get_by_role("link", name="Older →")).to_have_count(0)
    page.get_by_role("link", name="← Newer").click()
    expect(shown_ids(page)).to_have_text(short(expected[1]))
    page.get_by_role("link", name="⇤ Newest").click()
    expect(shown_ids(page)).to_have_text(short(expected[0]))
    # The form still shows the filters it applied
    expect(page.get_by_label("Queue", exact=True)).to_have_value("paging")
    expect(page.get_by_role("checkbox", name="queued")).to_be_checked()
    expect(page.get_by_role("checkbox", name="completed")).not_to_be_checked()

    # A status badge per row, coloured by its status; times relative, absolute on hover
    first = page.locator("tbody tr").first
    expect(first.locator(".badge")).to_have_text("queued")
    expect(first.locator(".badge")).to_have_class(re.compile(r"\bstatus-queued\b"))
    task = api(base, f"/tasks/{expected[0][0]}")
    created = first.locator('td[data-label="Created"] time')
    expect(created).to_have_text(re.compile(r"^(now|\d+ s ago)$"))
    iso = datetime.fromtimestamp(task["created_at"], UTC).isoformat(timespec="milliseconds")
    expect(created).to_have_attribute("datetime", iso.replace("+00:00", "Z"))
    expect(created).to_have_attribute("title", re.compile(r"\d{1,2}/\d{1,2}/\d{4}, "))


def test_created_after_and_before_filter_like_the_api(service, page):
    base = service.base_url
    ids = [submit(base, "uppercase", {"n": n}) for n in range(3)]
    wait_until_all(base, ids, ("completed",))
    open_dashboard(page, base, "tasks")
    expect(shown_ids(page)).to_have_count(3)
    # Created after an hour from now: nothing
    later = (datetime.now() + timedelta(hours=1)).replace(microsecond=0)  # the browser's time zone
    page.get_by_label("Created after", exact=True).fill(later.strftime("%Y-%m-%dT%H:%M:%S"))
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(".empty")).to_have_text("No task matches these filters.")
    expect(page).to_have_url(re.compile(rf"created_after={int(later.timestamp())}"))
    # Created before the same moment: all three, as the API says
    page.get_by_label("Created after", exact=True).fill("")
    page.get_by_label("Created before", exact=True).fill(later.strftime("%Y-%m-%dT%H:%M:%S"))
    page.get_by_role("button", name="Apply").click()
    listed = list_tasks(base, created_before=int(later.timestamp()))["tasks"]
    expect(shown_ids(page)).to_have_text(short([task["id"] for task in listed]))


def test_progress_shows_as_a_bar(service, page):
    base = service.base_url
    running = submit(base, "busy")
    wait_for(
        lambda: api(base, f"/tasks/{running}")["progress"],
        message=lambda: f"progress on {api(base, f'/tasks/{running}')}",
    )
    enqueue(base, {"action": "uppercase", "delay": 3600})
    open_dashboard(page, base, "tasks?status=running")
    bar = page.get_by_role("progressbar", name="40 %: step 2 of 5")
    expect(bar).to_have_attribute("value", "0.4")
    expect(page.locator("tbody tr")).to_have_count(1)
    page.goto(f"{base}/#/tasks?status=scheduled")
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator('tbody td[data-label="Progress"]')).to_have_text("—")
    expect(page.locator('tbody td[data-label="Due"] time')).to_have_text(re.compile(r"^in 59 min$"))
