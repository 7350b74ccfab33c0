"""The dashboard's files over HTTP: where they are, their headers, and what the pages may load."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest

from tests.conftest import REPO, ServiceProcess
from tests.web.client import request

from .conftest import serve
from .helpers import api

pytestmark = pytest.mark.system

FOLDER = REPO / "web" / "dashboard"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
CSP = "default-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
INDEX = (FOLDER / "index.html").read_bytes()


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> Iterator[ServiceProcess]:
    """One service for the module: these tests only read."""
    yield from serve(tmp_path_factory.mktemp("static"))


def assert_static(response, body: bytes, content_type: str) -> None:
    assert response.status == 200, (response.status, response.body)
    assert response.body == body
    assert response.headers["content-type"] == content_type
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["content-security-policy"] == CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert re.fullmatch(r'"[0-9a-f]{20}"', response.headers["etag"]), response.headers


@pytest.mark.parametrize("path", ["/", "/dashboard", "/dashboard/"])
def test_the_dashboard_is_at_the_root_and_under_dashboard(service, path):
    assert_static(request(service.base_url, "GET", path), INDEX, TYPES[".html"])


def test_every_file_of_the_folder_is_served_with_its_type(service):
    files = sorted(path for path in FOLDER.iterdir() if path.name != "index.html")
    assert {path.suffix for path in files} <= set(TYPES), files
    for path in files:
        response = request(service.base_url, "GET", f"/dashboard/{path.name}")
        assert_static(response, path.read_bytes(), TYPES[path.suffix])


def test_a_revalidation_with_the_etag_is_a_304_without_a_body(service):
    first = request(service.base_url, "GET", "/dashboard/app.js")
    revalidate = {"If-None-Match": first.headers["etag"]}
    again = request(service.base_url, "GET", "/dashboard/app.js", headers=revalidate)
    assert again.status == 304 and again.body == b""
    stale = request(service.base_url, "GET", "/dashboard/app.js", headers={"If-None-Match": '"0"'})
    assert stale.status == 200 and stale.body == first.body


def test_head_answers_the_headers_without_the_body(service):
    response = request(service.base_url, "HEAD", "/")
    assert response.status == 200 and response.body == b""
    assert response.headers["content-type"] == TYPES[".html"]


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/nope.js",
        "/dashboard/index.html",  # the page is / and /dashboard/, nothing else
        "/dashboard/app.js.map",
        "/dashboard/../run.py",
        "/dashboard/%2e%2e/run.py",
        "/web/dashboard/app.js",
        "/index.html",
    ],
)
def test_a_file_the_dashboard_does_not_have_is_a_json_404(service, path):
    response = request(service.base_url, "GET", path)
    assert response.status == 404, (path, response.body)
    assert response.content_type == "application/json"
    assert response.json() == {"error": "not found"}


def test_the_api_is_unchanged_beside_it(service):
    assert api(service.base_url, "/tasks") == {"tasks": [], "count": 0, "next_cursor": None}


class _Page(HTMLParser):
    """Every script, and every attribute that would need an inline-code exception."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        for name, _ in attrs:
            if name.startswith("on") or name == "style":
                self.inline.append(f"<{tag} {name}>")
        if tag == "script":
            self._in_script = True
            if not named.get("src"):
                self.inline.append("<script> without src")
        for name in ("src", "href"):
            if named.get(name, "").startswith("/dashboard/"):
                self.sources.append(named[name])
        if tag == "style":
            self.inline.append("<style>")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(f"inline script: {data.strip()[:40]}")


def test_the_pages_hold_no_inline_code_and_load_only_files_that_are_served(service):
    # The Content-Security-Policy allows no inline script or style: there must be none
    page = _Page()
    page.feed(INDEX.decode())
    assert not page.inline, page.inline
    # Every file the page or a module names is served (a new module needs its route)
    imports = {
        f"/dashboard/{name}"
        for path in FOLDER.glob("*.js")
        for name in re.findall(r'from "\./([\w.-]+\.js)"', path.read_text())
    }
    assert "/dashboard/app.js" in page.sources and "/dashboard/ui.js" in imports
    for source in sorted({*page.sources, *imports}):
        assert request(service.base_url, "GET", source).status == 200, source
    # Text from the API goes in as text: no HTML is parsed from a string, no code is built
    unsafe = r"innerHTML|outerHTML|insertAdjacentHTML|eval\(|new Function"
    for path in FOLDER.glob("*.js"):
        found = re.findall(unsafe, path.read_text())
        assert not found, (path.name, found)
