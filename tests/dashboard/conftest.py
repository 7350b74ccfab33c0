"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against the
real service (``python run.py``) on a fresh SQLite database for each test.

Without Chromium or Playwright these tests skip with the reason, except under
``CI=true``, where they fail (``.ci/run`` installs both). On a failure the page
is saved as a PNG, and the report names the file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IN_CI, ServiceProcess

CHROMIUM = "/usr/bin/chromium"  # Debian's; Playwright's own browser download is not used
# Headless without the sandbox (root in CI), and without Chromium's own connections
# (updates, sync, QUIC probes), which this machine's closed network refuses.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
DESKTOP = {"width": 1280, "height": 900}
ACTION_TIMEOUT_MS = 15_000  # a click or a navigation, on a busy 2-core machine
EXPECT_TIMEOUT_MS = 10_000  # what an expect() waits for by default: two refreshes (5 s each)
SERVICE_FLAGS = (
    "--simulated-work",
    "0",
    "--max-attempts",
    "2",
    "--retry-backoff",
    "60",  # a failed task stays retrying for the whole test
    "--poll-interval",
    "0.1",
    "--actions",
    "tests.dashboard.actions",
)


def _browser_unavailable_reason() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"Playwright is not installed (pip install -e '.[test]'): {exc}"
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


@pytest.fixture(scope="package")
def browser() -> Iterator:
    """One Chromium for the package's tests; each test gets its own context (cookies,
    storage) in ``page``. Package-scoped so Playwright's event loop ends with them."""
    reason = _browser_unavailable_reason()
    if reason is not None:
        if IN_CI:
            pytest.fail(f"CI=true but the browser tests cannot run: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_FLAGS))
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser, tmp_path) -> Iterator:
    """A fresh page. The test fails if the page threw an uncaught error or the browser
    refused something under the Content-Security-Policy."""
    context = browser.new_context(viewport=DESKTOP, locale="en-US")
    # The page's timers run on Playwright's clock: in real time, unless a test moves it on
    # to the next refresh (helpers.refresh_now) or holds it still.
    context.clock.install()
    opened = context.new_page()
    opened.set_default_timeout(ACTION_TIMEOUT_MS)
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(f"uncaught error: {error}"))
    opened.on(
        "console",
        lambda message: (
            problems.append(f"console: {message.text}")
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
    yield opened
    context.close()
    assert not problems, problems


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """On a failed test, save what the page showed and name the file in the report."""
    report = yield
    page = item.funcargs.get("page") if hasattr(item, "funcargs") else None
    if report.when == "call" and report.failed and page is not None and not page.is_closed():
        folder = Path(os.environ.get("TASKQUEUE_TEST_SCREENSHOTS") or item.funcargs["tmp_path"])
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{item.name}.png"
        try:
            page.screenshot(path=str(path), full_page=True)
            report.sections.append(("screenshot", f"the page at the failure: {path}"))
        except Exception as exc:  # noqa: BLE001 - the failure itself matters more
            report.sections.append(("screenshot", f"none: {exc!r}"))
    return report


def serve(folder: Path, *flags: str) -> Iterator[ServiceProcess]:
    """The real service on a fresh SQLite database in ``folder``; at its end, its log must
    show no unhandled error (no request of the dashboard made it fail)."""
    database = f"sqlite:///{folder}/tasks.db"
    process = ServiceProcess(database, folder / "service.log", *SERVICE_FLAGS, *flags)
    process.start()
    yield process
    process.stop()
    assert "unhandled error" not in process.log(), process.log()[-5000:]


@pytest.fixture
def service(tmp_path) -> Iterator[ServiceProcess]:
    """A service of its own for each test, so counts start at zero."""
    yield from serve(tmp_path)
