"""Dead letters in a browser: groups as the API makes them, and "retry all" for one group."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.web.client import submit, wait_until_all

from .helpers import answer, api, open_dashboard, refresh_now

pytestmark = pytest.mark.system

FIRST_TIME = "Permanent: the first attempt never works"


def group_row(page, action: str):
    return page.locator("tbody tr").filter(
        has=page.locator('td[data-label="Action"]', has_text=action)
    )


def test_retry_all_of_one_group_confirms_first_then_says_how_many(service, page):
    base = service.base_url
    retried = [submit(base, "dies_first_time", {"n": n}) for n in range(3)]
    kept = [submit(base, "refuses", {"n": n}) for n in range(2)]
    wait_until_all(base, [*retried, *kept], ("dead",))
    open_dashboard(page, base, "dead-letters")
    groups = api(base, "/dead-letters")["groups"]
    assert [(g["action"], g["count"]) for g in groups] == [("dies_first_time", 3), ("refuses", 2)]
    actions = page.locator('tbody td[data-label="Action"]')
    expect(actions).to_have_text(["dies_first_time", "refuses"])
    row = group_row(page, "dies_first_time")
    expect(row.locator('td[data-label="Error"]')).to_have_text(FIRST_TIME)
    expect(row.locator('td[data-label="Tasks"]')).to_have_text("3")
    expect(row.get_by_role("link", name="open one")).to_have_attribute(
        "href", f"#/task/{groups[0]['sample_id']}"
    )
    button = row.get_by_role("button", name=f"Retry all 3 of dies_first_time: {FIRST_TIME}")
    questions: list[str] = []

    # When the confirm is dismissed, nothing is retried
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    button.click()
    expect(answer(page)).to_have_text("Nothing retried.")
    assert questions == [
        f'Retry all 3 dead tasks of action "dies_first_time" that failed with "{FIRST_TIME}"?'
    ]
    assert {api(base, f"/tasks/{i}")["status"] for i in retried} == {"dead"}

    # When it is accepted, that group (and only it) is retried, and the page says how many
    page.once("dialog", lambda dialog: dialog.accept())
    button.click()
    expect(answer(page)).to_have_text('Retried 3 tasks (3 matched) of action "dies_first_time".')
    wait_until_all(base, retried, ("completed",))
    assert {api(base, f"/tasks/{i}")["status"] for i in kept} == {"dead"}
    refresh_now(page)
    expect(group_row(page, "dies_first_time")).to_have_count(0)
    expect(group_row(page, "refuses")).to_have_count(1)
