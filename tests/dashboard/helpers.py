"""What the dashboard tests share: reading the API the way the pages do, and finding
things on a page."""

from __future__ import annotations

from typing import Any

from models import STATUSES
from tests.web.client import post_json, request

REFRESH_MS = 5_000  # how often a page refreshes itself (REFRESH_SECONDS in app.js)
REFRESH_WAIT_MS = 15_000  # enough for that refresh to come round twice


def api(base_url: str, path: str) -> Any:
    response = request(base_url, "GET", path)
    assert response.status == 200, (path, response.status, response.body)
    return response.json()


def post(base_url: str, path: str, body: Any = None) -> Any:
    """POST and assert a 2xx; return the answer's JSON."""
    if body is None:
        response = request(base_url, "POST", path)
    else:
        response = post_json(base_url, body, path)
    assert 200 <= response.status < 300, (path, response.status, response.body)
    return response.json()


def enqueue(base_url: str, task: dict[str, Any]) -> str:
    """POST one task (any options); return its id."""
    return post(base_url, "/tasks", task)["id"]


def counts_by_status(base_url: str) -> dict[str, int]:
    """Every queue's counts added up, as the overview shows them."""
    totals = dict.fromkeys(map(str, STATUSES), 0)
    for queue in api(base_url, "/queues")["queues"]:
        for status, count in queue["counts"].items():
            totals[status] += count
    return totals


def open_dashboard(page, base_url: str, route: str = "") -> None:
    """Load the dashboard at ``#/route``; return once a refresh has filled the page in."""
    from playwright.sync_api import expect

    page.goto(f"{base_url}/#/{route}")
    expect(page.locator("#updated")).to_contain_text("Updated")


def counter(page, status: str):
    return page.locator(f'.counter[data-status="{status}"] .count')


def answer(page):
    """Where a page writes the API's answer to a button."""
    return page.locator(".answer")


def refresh_now(page) -> None:
    """Move the page's clock on to its next refresh, for a test that is not about waiting
    for it (test_overview waits for the real one)."""
    page.clock.fast_forward(REFRESH_MS)
