"""The token the dashboard sends: a stored token goes with every call to the API, and
never as a cookie; against a service with a token file, the dashboard asks for one on
a 401, a read token shows the data but its 403s on admin buttons say so, an admin
token acts, and the token stays in the tab that was given it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import orjson
import pytest
from playwright.sync_api import expect

from tests.conftest import ServiceProcess
from tests.web.client import request
from tests.web.tokens import make_token

from .conftest import DESKTOP, serve
from .helpers import answer, open_dashboard

pytestmark = pytest.mark.system

TOKEN_KEY = "taskqueue.token"  # api.js keeps it under this name in sessionStorage


def hold_timers(page) -> None:
    """No refresh by the clock from here on: every request seen is one the test caused."""
    page.clock.pause_at(page.evaluate("Date.now()") / 1000 + 0.5)  # seconds


def test_a_stored_token_goes_with_every_api_call_and_never_as_a_cookie(service, page):
    base = service.base_url
    open_dashboard(page, base)
    hold_timers(page)
    forget = page.get_by_role("button", name="Forget token")
    expect(forget).to_be_hidden()
    expect(page.locator("#token-form")).to_be_hidden()
    sent: list[tuple[str, dict[str, str]]] = []
    page.on(
        "requestfinished",
        lambda req: (
            sent.append((urlsplit(req.url).path, req.all_headers()))
            if req.resource_type == "fetch"
            else None
        ),
    )

    page.evaluate(f"sessionStorage.setItem('{TOKEN_KEY}', 'secret-1')")
    page.reload()
    expect(page.locator("#updated")).to_contain_text("Updated")
    hold_timers(page)
    expect(forget).to_be_visible()
    assert {path for path, _ in sent} == {"/queues", "/stats", "/nodes"}
    for path, headers in sent:
        assert headers.get("authorization") == "Bearer secret-1", (path, headers)
        assert "cookie" not in headers, (path, headers)
    assert page.evaluate("document.cookie") == ""

    # Forgotten, it is gone from the tab and from the calls
    sent.clear()
    forget.click()
    expect(forget).to_be_hidden()
    expect(page.locator("#updated")).to_contain_text("Updated")
    assert sent and all("authorization" not in headers for _, headers in sent), sent
    assert page.evaluate(f"sessionStorage.getItem('{TOKEN_KEY}')") is None


@pytest.fixture
def secrets(tmp_path) -> dict[str, str]:
    """A read token and an admin token, made by ``run.py token``, and their file."""
    made = {"read": make_token("viewer", "read"), "admin": make_token("operator", "admin")}
    path = tmp_path / "tokens"
    path.write_text("".join(line + "\n" for _, line in made.values()))
    return {role: secret for role, (secret, _) in made.items()} | {"file": str(path)}


@pytest.fixture
def guarded(tmp_path, secrets) -> Iterator[ServiceProcess]:
    """A service with a token file: every client needs a token, loopback ones included."""
    yield from serve(tmp_path, "--token-file", secrets["file"])


def as_admin(base_url: str, secret: str, path: str, body=None):
    headers = {"Authorization": f"Bearer {secret}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
        body = orjson.dumps(body)
    response = request(base_url, "POST", path, body, headers)
    assert response.status in (200, 202), (path, response.status, response.body)
    return response.json()


def read(base_url: str, secret: str, path: str):
    response = request(base_url, "GET", path, headers={"Authorization": f"Bearer {secret}"})
    assert response.status == 200, (path, response.status, response.body)
    return response.json()


def give_token(page, secret: str) -> None:
    form = page.locator("#token-form")
    expect(form).to_be_visible()
    page.get_by_label("API token").fill(secret)
    page.get_by_role("button", name="Use this token").click()
    expect(form).to_be_hidden()
    expect(page.locator("#updated")).to_contain_text("Updated")


def stored_token(page) -> dict:
    return page.evaluate(
        f"""() => ({{
            session: sessionStorage.getItem('{TOKEN_KEY}'),
            local: localStorage.length,
            cookie: document.cookie,
        }})"""
    )


def test_with_a_token_file_the_dashboard_asks_and_the_role_decides(guarded, secrets, page):
    base = guarded.base_url
    waiting = as_admin(base, secrets["admin"], "/tasks", {"action": "uppercase", "delay": 3600})
    ended = as_admin(base, secrets["admin"], "/tasks", {"action": "uppercase", "delay": 3600})
    as_admin(base, secrets["admin"], f"/tasks/{ended['id']}/cancel")

    # Without a token: the 401 is a form asking for one, with the service's reason
    page.goto(f"{base}/#/task/{waiting['id']}")
    expect(page.locator("#token-reason")).to_have_text(
        "The service needs a token: authentication required: send Authorization: Bearer <token>"
    )
    expect(page.locator("#view")).to_be_hidden()

    # A read token: the task shows, and Cancel answers with what the role cannot do
    give_token(page, secrets["read"])
    expect(page.locator(".task")).to_contain_text("scheduled")
    assert stored_token(page) == {"session": secrets["read"], "local": 0, "cookie": ""}
    page.get_by_role("button", name="Cancel", exact=True).click()
    expect(answer(page)).to_have_text(
        "Your token's role cannot cancel tasks: this needs the admin role; "
        "the token 'viewer' has read"
    )
    expect(answer(page)).to_have_class(re.compile(r"\berror\b"))
    # Retry, on the task that was canceled
    page.goto(f"{base}/#/task/{ended['id']}")
    page.get_by_role("button", name="Retry", exact=True).click()
    expect(answer(page)).to_have_text(
        "Your token's role cannot retry tasks: this needs the admin role; "
        "the token 'viewer' has read"
    )
    # Pause, on the queues page
    page.goto(f"{base}/#/queues")
    page.get_by_role("button", name="Pause queue default").click()
    expect(answer(page)).to_have_text(
        "Your token's role cannot pause or resume queues: this needs the admin role; "
        "the token 'viewer' has read"
    )
    assert read(base, secrets["read"], f"/tasks/{waiting['id']}")["status"] == "scheduled"
    assert read(base, secrets["read"], f"/tasks/{ended['id']}")["status"] == "canceled"
    assert not any(queue["paused"] for queue in read(base, secrets["read"], "/queues")["queues"])

    # Forget token: gone from the tab, and the next read asks again
    page.get_by_role("button", name="Forget token").click()
    expect(page.locator("#token-form")).to_be_visible()
    assert stored_token(page) == {"session": None, "local": 0, "cookie": ""}

    # An admin token: Cancel works
    page.goto(f"{base}/#/task/{waiting['id']}")
    give_token(page, secrets["admin"])
    page.get_by_role("button", name="Cancel", exact=True).click()
    expect(answer(page)).to_have_text("Canceled (200): the task is now canceled.")
    assert read(base, secrets["read"], f"/tasks/{waiting['id']}")["status"] == "canceled"
    assert page.context.cookies() == []

    # Another tab of the same browser, and another browser context, have no token
    other_tab = page.context.new_page()
    other_tab.goto(f"{base}/#/queues")
    expect(other_tab.locator("#token-form")).to_be_visible()
    assert stored_token(other_tab) == {"session": None, "local": 0, "cookie": ""}
    other_context = page.context.browser.new_context(viewport=DESKTOP, locale="en-US")
    try:
        fresh = other_context.new_page()
        fresh.goto(f"{base}/#/queues")
        expect(fresh.locator("#token-form")).to_be_visible()
        assert stored_token(fresh) == {"session": None, "local": 0, "cookie": ""}
    finally:
        other_context.close()
    # The tab that was given the token still has it
    assert stored_token(page)["session"] == secrets["admin"]
