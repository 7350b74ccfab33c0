"""The README's picture of the overview, taken from a real run.

Every run takes it (into the test's temporary folder); with
``TASKQUEUE_UPDATE_DOCS=1`` it also replaces ``docs/dashboard-overview.png``:

    TASKQUEUE_UPDATE_DOCS=1 python3 -m pytest tests/dashboard/test_readme_screenshot.py
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.conftest import REPO, ServiceProcess
from tests.web.client import wait_for, wait_for_status, wait_until_all

from .conftest import serve
from .helpers import api, counter, counts_by_status, enqueue, open_dashboard, post

pytestmark = pytest.mark.system

DOCS_IMAGE = REPO / "docs" / "dashboard-overview.png"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
VIEWPORT = {"width": 1280, "height": 500}
LEASE_SECONDS = 3  # a node writes down its busy workers every lease / 3
NODE_REPORT_SECONDS = 10.0


@pytest.fixture
def service(tmp_path) -> Iterator[ServiceProcess]:
    yield from serve(tmp_path, "--lease", str(LEASE_SECONDS))


def test_the_overview_as_the_readme_shows_it(service, page, tmp_path):
    base = service.base_url
    # A small day's work: three queues, one of them paused, and tasks in every status
    post(base, "/tasks", [{"action": "uppercase", "data": {"text": f"hi {n}"}} for n in range(24)])
    sums = [{"action": "sum", "queue": "reports", "data": {"numbers": [n, 1]}} for n in range(8)]
    post(base, "/tasks", sums)
    finished = [task["id"] for task in api(base, "/tasks?limit=1000")["tasks"]]
    dead = [enqueue(base, {"action": "refuses"}) for _ in range(3)]
    dead += [enqueue(base, {"action": "dies_first_time"}) for _ in range(2)]
    retrying = [enqueue(base, {"action": "fails", "data": {"n": n}}) for n in range(2)]
    running = enqueue(base, {"action": "busy", "queue": "reports"})
    for n in range(3):
        enqueue(base, {"action": "report", "queue": "reports", "delay": 900 * (n + 1)})
    canceled = enqueue(base, {"action": "uppercase", "delay": 60})
    post(base, f"/tasks/{canceled}/cancel")
    post(base, "/queues/emails/pause")
    for n in range(4):
        enqueue(base, {"action": "send_mail", "queue": "emails", "data": {"to": n}})
    wait_until_all(base, finished, ("completed",))
    wait_until_all(base, dead, ("dead",))
    wait_until_all(base, retrying, ("retrying",))
    wait_for_status(base, running, "running")
    # Wait for the node to have written down its busy worker (every --lease / 3)
    wait_for(
        lambda: api(base, "/nodes")["nodes"][0]["busy"] == 1,
        timeout=NODE_REPORT_SECONDS,
        message=lambda: f"the node to report its busy worker: {api(base, '/nodes')}",
    )

    page.set_viewport_size(VIEWPORT)  # the full page is taller: the picture has no empty band
    open_dashboard(page, base)
    for status, count in counts_by_status(base).items():
        expect(counter(page, status)).to_have_text(str(count))
    expect(page.locator(".nodes .badge")).to_have_text("alive")

    shot = tmp_path / "dashboard-overview.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes().startswith(PNG_SIGNATURE)
    if os.environ.get("TASKQUEUE_UPDATE_DOCS") == "1":
        DOCS_IMAGE.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, DOCS_IMAGE)
