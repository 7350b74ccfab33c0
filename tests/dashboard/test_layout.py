"""Every page on a phone-sized screen, and the dashboard with the keyboard alone."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.web.client import submit, wait_for_status

from .helpers import open_dashboard

pytestmark = pytest.mark.system

PHONE = {"width": 375, "height": 740}


def focused(page) -> str:
    return page.evaluate("document.activeElement.textContent.trim()")


def test_every_page_fits_a_phone_sized_screen(service, page):
    base = service.base_url
    dead = submit(base, "refuses", {"a long value": "x" * 300})
    submit(base, "busy")
    wait_for_status(base, dead, "dead")
    page.set_viewport_size(PHONE)
    for route in ("", "tasks", f"task/{dead}", "queues", "dead-letters"):
        open_dashboard(page, base, route)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        # No sideways scrolling: everything fits the width
        width, inner = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
        assert width <= inner, (route, width, inner)
        for link in page.locator("nav.main a").all():
            box = link.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], route
    # The task list's rows are cards, each value labelled
    open_dashboard(page, base, "tasks")
    expect(page.locator("tbody tr")).to_have_count(2)
    expect(page.locator("thead")).not_to_be_in_viewport()
    label = page.evaluate(
        "getComputedStyle(document.querySelector('tbody td'), '::before').content"
    )
    assert label == '"Status"', label


def test_the_keyboard_reaches_the_pages_and_moves_the_focus_to_the_new_one(service, page):
    base = service.base_url
    task_id = submit(base, "refuses")
    wait_for_status(base, task_id, "dead")
    open_dashboard(page, base)
    page.keyboard.press("Tab")
    assert focused(page) == "Skip to the page"
    page.keyboard.press("Tab")
    assert focused(page) == "taskqueue"
    for name in ("Overview", "Tasks"):
        page.keyboard.press("Tab")
        assert focused(page) == name
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#/tasks$"))
    current = page.get_by_role("link", name="Tasks", exact=True)
    expect(current).to_have_attribute("aria-current", "page")
    # The focus is on the new page's heading, and Tab goes on into the page
    expect(page.get_by_role("heading", level=1)).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("checkbox", name="scheduled")).to_be_focused()
    page.keyboard.press("Space")
    expect(page.get_by_role("checkbox", name="scheduled")).to_be_checked()
    # The row's link opens the task with Enter
    link = page.get_by_role("link", name="refuses", exact=True)
    link.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"#/task/{task_id}$"))
    expect(page.get_by_role("heading", level=1)).to_be_focused()
    # Every control shows where the focus is
    page.keyboard.press("Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid", (focused(page), outline)
