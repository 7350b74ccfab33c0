"""Another web site, open in the same Chromium, against the service (issue 12, "Browsers").

tests/web/test_browser.py sends Chromium's requests by hand; here Chromium sends
them itself. The other site is a page served by a small HTTP server on another
port of 127.0.0.1: another origin for the browser, and a loopback one, so
Chromium's Private Network Access rules do not stop the requests before they
reach the service (they reach it, and the service refuses them). Whether a
page's script could read an answer is what the script itself saw.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ServiceProcess
from tests.web.client import list_tasks, request
from tests.web.tokens import make_token

from .conftest import serve
from .helpers import api, enqueue

pytestmark = pytest.mark.system

ORIGIN_REFUSED = "requests from this web origin are not allowed (see --allow-origin)"
# fetch(url, init) in the page, reduced to what its script could learn from it.
ATTEMPT = """() => {
  window.attempt = async (url, init) => {
    try {
      const response = await fetch(url, init);
      return {
        outcome: "resolved",
        type: response.type,
        status: response.status,
        text: await response.text(),
        headers: Object.fromEntries(response.headers),
      };
    } catch (error) {
      return { outcome: "rejected", error: String(error) };
    }
  };
}"""


class _OtherSite(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = b"<!doctype html><title>another site</title><h1>another site</h1>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - http.server's name
        pass


@pytest.fixture
def other_site() -> Iterator[str]:
    """The origin (``http://127.0.0.1:PORT``) of a site that is not the service."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OtherSite)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def open_other_site(page, origin: str, service: ServiceProcess) -> list[tuple[str, str, int]]:
    """Load the other site's page; return the list that fills, as Chromium receives them,
    with (method, path, status) of the service's answers (a preflight is not in it)."""
    seen: list[tuple[str, str, int]] = []
    page.on(
        "response",
        lambda response: (
            seen.append((response.request.method, urlsplit(response.url).path, response.status))
            if response.url.startswith(service.base_url)
            else None
        ),
    )
    page.goto(f"{origin}/")
    page.evaluate(ATTEMPT)
    return seen


def attempt(page, script: str, url: str) -> dict:
    """Run ``attempt(url, <script>)`` in the page: ``script`` is fetch's init, in JS."""
    return page.evaluate(f"(url) => attempt(url, {script})", url)


def test_a_page_from_another_site_cannot_post_a_task(service, page, other_site):
    tasks = f"{service.base_url}/tasks"
    seen = open_other_site(page, other_site, service)

    # A Blob of JSON without a type: a "simple" request, sent without a preflight
    blob = attempt(
        page,
        """{method: "POST", mode: "no-cors",
            body: new Blob(['{"action": "from-a-blob"}'])}""",
        tasks,
    )
    # The page learns nothing, not even the status; Chromium saw the service refuse it
    assert (blob["outcome"], blob["type"], blob["status"], blob["text"]) == (
        "resolved",
        "opaque",
        0,
        "",
    )
    assert seen == [("POST", "/tasks", 403)]

    # Declared JSON: Chromium asks first (a preflight), is refused, and never sends it
    typed = attempt(
        page,
        """{method: "POST", headers: {"Content-Type": "application/json"},
            body: '{"action": "from-a-json-fetch"}'}""",
        tasks,
    )
    assert typed["outcome"] == "rejected", typed
    assert seen == [("POST", "/tasks", 403)]

    # A form, text/plain, whose body reads as JSON: {"action": "from-a-form", "x": "="}
    with page.expect_response(lambda response: response.url == tasks) as answered:
        page.evaluate(
            """(action) => {
                const form = document.createElement("form");
                form.method = "post";
                form.enctype = "text/plain";
                form.action = action;
                const field = document.createElement("input");
                field.name = '{"action": "from-a-form", "x": "';
                field.value = '"}';
                form.append(field);
                document.body.append(form);
                form.submit();
            }""",
            tasks,
        )
    sent = answered.value.request
    assert answered.value.status == 403
    assert sent.method == "POST" and sent.header_value("origin") == other_site
    assert sent.post_data == '{"action": "from-a-form", "x": "="}\r\n'
    assert answered.value.json() == {"error": ORIGIN_REFUSED}

    # Then: none of them was stored
    assert list_tasks(service.base_url)["tasks"] == []


def test_a_page_from_another_site_cannot_cancel_or_pause(service, page, other_site):
    base = service.base_url
    task_id = enqueue(base, {"action": "uppercase", "delay": 3600})
    seen = open_other_site(page, other_site, service)

    # fetch(url, {method: "POST", mode: "no-cors"}): no body, no type, no preflight
    for path in (f"/tasks/{task_id}/cancel", "/queues/default/pause", "/queues/x/pause"):
        sent = attempt(page, '{method: "POST", mode: "no-cors"}', base + path)
        assert (sent["outcome"], sent["type"], sent["status"]) == ("resolved", "opaque", 0)
    assert seen == [
        ("POST", f"/tasks/{task_id}/cancel", 403),
        ("POST", "/queues/default/pause", 403),
        ("POST", "/queues/x/pause", 403),
    ]

    task = api(base, f"/tasks/{task_id}")
    assert (task["status"], task["cancel_requested"]) == ("scheduled", False)
    assert [queue["name"] for queue in api(base, "/queues")["queues"] if queue["paused"]] == []


def refused_reads(base: str) -> float:
    """How many GET /tasks the service has answered 403, by its /metrics."""
    metrics = request(base, "GET", "/metrics").body.decode()
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == "taskqueue_http_requests_total" and sample.labels == {
                "method": "GET",
                "route": "/tasks",
                "code": "403",
            }:
                return sample.value
    return 0.0


def test_a_page_from_another_site_cannot_read_the_listing(service, page, other_site):
    base = service.base_url
    enqueue(base, {"action": "private-report", "delay": 3600})
    seen = open_other_site(page, other_site, service)

    # fetch(url): a CORS read, refused by the service and without CORS headers, so the
    # script gets an error instead of the answer (and Chromium reports no response)
    read = attempt(page, "{}", f"{base}/tasks")
    assert read["outcome"] == "rejected", read
    assert seen == []
    # In no-cors mode Chromium sends no Origin, only Sec-Fetch-Site (same-site: another
    # port of 127.0.0.1), and the service refuses it; the script gets an empty, opaque
    # answer either way
    opaque = attempt(page, '{mode: "no-cors"}', f"{base}/tasks")
    assert (opaque["type"], opaque["status"], opaque["text"], opaque["headers"]) == (
        "opaque",
        0,
        "",
        {},
    )
    assert seen == [("GET", "/tasks", 403)]
    # And so is an image or a script the page points at the service. Chromium's opaque
    # response blocking hides any answer to those from the page (and from Playwright),
    # so the service's own count of refusals says what it answered
    refused_before = refused_reads(base)
    for tag in ("img", "script"):
        url = f"{base}/tasks?limit=5"
        with page.expect_event("requestfailed", lambda failed, url=url: failed.url == url):
            page.evaluate(
                """([tag, url]) => {
                    const element = document.createElement(tag);
                    element.src = url;
                    document.body.append(element);
                }""",
                [tag, url],
            )
    # (refused: the service refuses a read without Origin only for its Sec-Fetch-Site)
    assert refused_reads(base) == refused_before + 2


def _serve_for(folder: Path, origin: str, token_line: str) -> Iterator[ServiceProcess]:
    tokens = folder / "tokens"
    tokens.write_text(token_line + "\n")
    yield from serve(folder, "--allow-origin", origin, "--token-file", str(tokens))


@pytest.fixture
def writer() -> tuple[str, str]:
    return make_token("app", "write")


@pytest.fixture
def allowing_service(tmp_path, other_site, writer) -> Iterator[ServiceProcess]:
    """A service with a token file whose ``--allow-origin`` lists the other site."""
    yield from _serve_for(tmp_path, other_site, writer[1])


def test_a_listed_site_posts_with_a_token_and_a_key_and_reads_the_answers(
    allowing_service, page, other_site, writer
):
    base = allowing_service.base_url
    secret = writer[0]
    open_other_site(page, other_site, allowing_service)

    # When: the listed site's page posts the same task twice, with the same key; each
    # POST is preflighted (Authorization, Content-Type and Idempotency-Key are not
    # headers a page may send without asking)
    post = f"""{{method: "POST",
        headers: {{"Content-Type": "application/json", "Authorization": "Bearer {secret}",
                   "Idempotency-Key": "order-17"}},
        body: '{{"action": "uppercase", "data": {{"text": "hi"}}}}'}}"""
    first = attempt(page, post, f"{base}/tasks")
    second = attempt(page, post, f"{base}/tasks")

    # Then: its script reads both answers, and the headers it needs
    assert first["outcome"] == "resolved", first
    assert (first["type"], first["status"]) == ("cors", 202), first
    task_id = orjson.loads(first["text"])["id"]
    assert first["headers"]["location"] == f"/tasks/{task_id}"
    assert "idempotent-replayed" not in first["headers"]
    assert (second["status"], second["headers"].get("idempotent-replayed")) == (202, "true")
    assert orjson.loads(second["text"])["id"] == task_id

    # A refusal is readable too: without the token, the 401 and its challenge
    refused = attempt(
        page,
        """{method: "POST", headers: {"Content-Type": "application/json"},
            body: '{"action": "uppercase"}'}""",
        f"{base}/tasks",
    )
    assert refused["status"] == 401, refused
    assert refused["headers"]["www-authenticate"] == 'Bearer realm="taskqueue"'

    # One task stored, and none without the token
    stored = request(base, "GET", "/tasks", headers={"Authorization": f"Bearer {secret}"})
    assert [task["id"] for task in stored.json()["tasks"]] == [task_id]
