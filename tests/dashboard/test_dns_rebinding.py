"""DNS rebinding in Chromium (issue 12, "Browsers").

A site's own name that resolves to 127.0.0.1 makes the service same-origin with
that site's pages: the browser lets its scripts read the answers. Chromium is
started here with ``--host-resolver-rules`` mapping ``rebind.test`` to
127.0.0.1, as a rebound DNS answer would; the service, listening on 127.0.0.1,
refuses that ``Host`` with 421, so the page reads no data.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.web.client import list_tasks

from .conftest import ACTION_TIMEOUT_MS, CHROMIUM, CHROMIUM_FLAGS, DESKTOP
from .helpers import enqueue

pytestmark = pytest.mark.system

REBOUND = "rebind.test"
HOST_REFUSED = "this service is not served under that Host name (see --allow-host)"


@pytest.fixture
def rebound_page(browser) -> Iterator:
    """A page in a Chromium of its own, whose resolver answers 127.0.0.1 for rebind.test."""
    rebinding = browser.browser_type.launch(
        executable_path=CHROMIUM,
        args=[*CHROMIUM_FLAGS, f"--host-resolver-rules=MAP {REBOUND} 127.0.0.1"],
    )
    try:
        context = rebinding.new_context(viewport=DESKTOP, locale="en-US")
        opened = context.new_page()
        opened.set_default_timeout(ACTION_TIMEOUT_MS)
        yield opened
    finally:
        rebinding.close()


def test_a_rebound_name_gets_421_and_its_page_reads_no_task(service, rebound_page):
    base = service.base_url
    secret = enqueue(base, {"action": "private-report", "delay": 3600})
    site = f"http://{REBOUND}:{service.port}"

    # The attacker's page, as the browser loads it once the name points at 127.0.0.1:
    # the request reaches the service, which refuses the name
    loaded = rebound_page.goto(f"{site}/")
    assert loaded.request.header_value("host") == f"{REBOUND}:{service.port}"
    assert loaded.status == 421
    assert loaded.json() == {"error": HOST_REFUSED}

    # Its script is same-origin with the service now: it may read whatever is answered,
    # and what is answered is the refusal, not the tasks
    seen = rebound_page.evaluate(
        """async () => {
            const read = await fetch("/tasks");
            const posted = await fetch("/tasks", {
                method: "POST",
                headers: {"Content-Type": "application/json"},
                body: '{"action": "from-a-rebound-page"}',
            });
            return {
                read: [read.status, await read.json()],
                posted: [posted.status, await posted.json()],
            };
        }"""
    )
    assert seen["read"] == [421, {"error": HOST_REFUSED}]
    assert seen["posted"] == seen["read"]
    assert [task["id"] for task in list_tasks(base)["tasks"]] == [secret]
