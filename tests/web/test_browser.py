"""What a web page can make a visitor's browser do to the service (issue 12, "Browsers").

The requests are the ones Chromium sends, header for header (its client hints
left out), for the page scripts in each test's comment. One service on
127.0.0.1 without a token file (the default, where a page is the threat) serves
the module, with ``--allow-origin https://app.example.com`` and
``--allow-host tasks.internal``; the module fails at teardown if a task whose
action does not start with good- was stored.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import orjson
import pytest

from tests.conftest import ServiceProcess

from .client import Response, list_tasks, request
from .conftest import serve_module

pytestmark = pytest.mark.system

APP = "https://app.example.com"
EVIL = "https://evil.example"
TASK = b'{"action": "bad-from-a-page"}'
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> Iterator[ServiceProcess]:
    yield from serve_module(
        tmp_path_factory.mktemp("browser"),
        "--allow-origin",
        APP,
        "--allow-host",
        "tasks.internal",
        only_good_stored=True,
    )


def browser(service: ServiceProcess, method: str, path: str, body=None, **headers) -> Response:
    """A request with the headers Chromium adds to every fetch; ``headers`` (with _ for -)
    are the request's own."""
    sent = {
        "Host": f"127.0.0.1:{service.port}",
        "User-Agent": USER_AGENT,
        "Accept": "*/*",
        "Accept-Encoding": "gzip, deflate, br, zstd",
        "Accept-Language": "en-US,en;q=0.9",
        "Connection": "keep-alive",
    }
    sent.update({key.replace("_", "-"): value for key, value in headers.items()})
    return request(service.base_url, method, path, body, sent)


def cross_site(origin: str, mode: str = "no-cors", **headers) -> dict[str, str]:
    return {
        "Origin": origin,
        "Referer": origin + "/",
        "Sec-Fetch-Site": "cross-site",
        "Sec-Fetch-Mode": mode,
        "Sec-Fetch-Dest": "empty",
        **headers,
    }


def assert_refused(response: Response, status: int) -> str:
    assert response.status == status, (response.status, response.body)
    assert response.content_type == "application/json"
    assert "access-control-allow-origin" not in response.headers
    return orjson.loads(response.body)["error"]


FETCHED_BY_ANOTHER_SITE = "requests made by another site's page are not allowed"


def no_origin(site: str, mode: str, dest: str, referer: str = EVIL + "/") -> dict[str, str]:
    """What Chromium sends with a request that carries no Origin (a no-cors GET or a
    navigation): where it comes from only in the fetch metadata and the Referer."""
    return {
        "Referer": referer,
        "Sec-Fetch-Site": site,
        "Sec-Fetch-Mode": mode,
        "Sec-Fetch-Dest": dest,
    }


@pytest.mark.parametrize(
    ("site", "mode", "dest"),
    [
        # evil.example: <img src="http://127.0.0.1:PORT/tasks">
        ("cross-site", "no-cors", "image"),
        # evil.example: <script src="http://127.0.0.1:PORT/tasks?limit=1000">
        ("cross-site", "no-cors", "script"),
        # evil.example: fetch("http://127.0.0.1:PORT/tasks", {mode: "no-cors"})
        ("cross-site", "no-cors", "empty"),
        # evil.example: <iframe src="http://127.0.0.1:PORT/tasks">
        ("cross-site", "navigate", "iframe"),
        # http://127.0.0.1:3000 (another port: another application, the same site):
        # fetch("http://127.0.0.1:PORT/tasks", {mode: "no-cors"})
        ("same-site", "no-cors", "empty"),
    ],
)
def test_a_read_another_sites_page_makes_without_origin_is_refused(service, site, mode, dest):
    for method in ("GET", "HEAD"):
        response = browser(service, method, "/tasks?limit=1000", **no_origin(site, mode, dest))
        assert response.status == 403, (method, response.status, response.body)
    error = assert_refused(browser(service, "GET", "/tasks", **no_origin(site, mode, dest)), 403)
    assert error == FETCHED_BY_ANOTHER_SITE


def test_a_link_followed_from_another_site_and_requests_not_from_a_page_are_served(service):
    # evil.example: <a href="http://127.0.0.1:PORT/tasks">, clicked: a top-level navigation
    followed = browser(service, "GET", "/tasks", **no_origin("cross-site", "navigate", "document"))
    assert followed.status == 200, followed.body
    # Typed into the address bar, or a bookmark
    typed = browser(service, "GET", "/tasks", **no_origin("none", "navigate", "document", ""))
    assert typed.status == 200, typed.body
    # The service's own page (the dashboard), and a client that is not a browser (curl)
    own = browser(service, "GET", "/tasks", **no_origin("same-origin", "no-cors", "image", ""))
    assert own.status == 200, own.body
    assert request(service.base_url, "GET", "/tasks").status == 200


def test_a_cross_site_blob_post_is_refused(service):
    # evil.example: fetch("http://127.0.0.1:PORT/tasks", {method: "POST", mode: "no-cors",
    #   body: new Blob(['{"action": "..."}'])})  -- a "simple" request: no preflight
    response = browser(service, "POST", "/tasks", TASK, **cross_site(EVIL))
    error = assert_refused(response, 403)
    assert error == "requests from this web origin are not allowed (see --allow-origin)"


def test_a_post_without_a_content_type_is_415_even_without_an_origin(service):
    # The same body with no Origin (a client that is not a browser, or one that hides it):
    # an untyped body is not taken for JSON
    response = request(service.base_url, "POST", "/tasks", TASK)
    assert assert_refused(response, 415) == "Content-Type must be application/json; none was given"


def test_a_cross_site_form_post_is_refused(service):
    # evil.example: <form method=post enctype=text/plain action=http://127.0.0.1:PORT/tasks>
    response = browser(
        service,
        "POST",
        "/tasks",
        b'{"action": "bad-from-a-page", "x": "=}',
        **cross_site(EVIL, mode="navigate", Content_Type="text/plain"),
        Sec_Fetch_Dest="document",
        Accept="text/html,application/xhtml+xml,*/*;q=0.8",
    )
    assert_refused(response, 403)


@pytest.mark.parametrize(
    "path",
    [
        "/tasks/0b9f5c4e-8a43-4c59-9a3e-5d1f2b8f0c11/cancel",
        "/tasks/0b9f5c4e-8a43-4c59-9a3e-5d1f2b8f0c11/retry",
        "/queues/default/pause",
        "/queues/default/resume",
    ],
)
def test_a_cross_site_bodiless_post_is_refused(service, path):
    # evil.example: fetch(url, {method: "POST", mode: "no-cors"})
    response = browser(service, "POST", path, b"", **cross_site(EVIL), Content_Length="0")
    assert_refused(response, 403)


def test_a_cross_site_read_is_refused_without_cors_headers(service):
    # evil.example: fetch("http://127.0.0.1:PORT/tasks")  -- mode "cors", a GET
    response = browser(service, "GET", "/tasks", **cross_site(EVIL, mode="cors"))
    assert_refused(response, 403)


def test_a_preflight_from_another_origin_is_refused(service):
    response = browser(
        service,
        "OPTIONS",
        "/tasks",
        **cross_site(EVIL, mode="cors"),
        Access_Control_Request_Method="POST",
        Access_Control_Request_Headers="content-type",
    )
    assert_refused(response, 403)


@pytest.mark.parametrize("origin", ["null", "http://127.0.0.1:1", "file://", "http://localhost"])
def test_opaque_and_other_local_origins_are_refused(service, origin):
    # A sandboxed iframe or a file: page sends "null"; another port is another origin
    response = browser(service, "GET", "/tasks", **cross_site(origin, mode="cors"))
    assert_refused(response, 403)


def test_dns_rebinding_gets_421(service):
    # rebind.evil.example resolves to 127.0.0.1 now: the page's own fetch("/tasks") is
    # same-origin for the browser, which sends the page's name as Host
    host = f"rebind.evil.example:{service.port}"
    read = browser(
        service,
        "GET",
        "/tasks",
        Host=host,
        Sec_Fetch_Site="same-origin",
        Sec_Fetch_Mode="cors",
        Sec_Fetch_Dest="empty",
        Referer=f"http://{host}/",
    )
    error = assert_refused(read, 421)
    assert error == "this service is not served under that Host name (see --allow-host)"
    write = browser(
        service,
        "POST",
        "/tasks",
        TASK,
        Host=host,
        Origin=f"http://{host}",
        Content_Type="application/json",
        Sec_Fetch_Site="same-origin",
        Sec_Fetch_Mode="cors",
    )
    assert_refused(write, 421)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]", "tasks.internal"])
def test_loopback_names_and_allowed_hosts_are_served(service, host):
    response = browser(service, "GET", "/tasks?limit=1", Host=f"{host}:{service.port}")
    assert response.status == 200, response.body


@pytest.mark.parametrize(
    ("host", "status"),
    [(None, 400), ("127.0.0.1:port", 400), ("evil.example", 421), ("127.0.0.2", 421)],
)
def test_a_missing_malformed_or_foreign_host_is_refused(service, host, status):
    with_host = f"GET /tasks HTTP/1.1\r\nHost: {host}\r\n" if host else "GET /tasks HTTP/1.1\r\n"
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as sock:
        sock.sendall(with_host.encode() + b"Connection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status} ".encode()), answer
    assert orjson.loads(body)["error"]


def test_the_services_own_origin_is_served(service):
    # A page served by the service itself (the dashboard) posts to its own origin
    response = browser(
        service,
        "POST",
        "/tasks",
        b'{"action": "good-own-origin"}',
        Origin=f"http://127.0.0.1:{service.port}",
        Content_Type="application/json",
        Sec_Fetch_Site="same-origin",
        Sec_Fetch_Mode="cors",
    )
    assert response.status == 202, response.body
    assert "access-control-allow-origin" not in response.headers


def test_a_listed_origin_gets_its_preflight_and_cors_headers(service):
    # app.example.com: fetch("http://127.0.0.1:PORT/tasks", {method: "POST",
    #   headers: {"Content-Type": "application/json"}, body: ...})  -- preflighted
    preflight = browser(
        service,
        "OPTIONS",
        "/tasks",
        **cross_site(APP, mode="cors"),
        Access_Control_Request_Method="POST",
        Access_Control_Request_Headers="authorization,content-type,idempotency-key",
    )
    assert preflight.status == 204, preflight.body
    assert preflight.headers["access-control-allow-origin"] == APP
    assert set(preflight.headers["access-control-allow-methods"].split(", ")) == {"GET", "POST"}
    assert preflight.headers["access-control-allow-headers"] == (
        "Authorization, Content-Type, Idempotency-Key"
    )
    assert preflight.headers["vary"] == "Origin"
    posted = browser(
        service,
        "POST",
        "/tasks",
        b'{"action": "good-from-app"}',
        **cross_site(APP, mode="cors", Content_Type="application/json"),
    )
    assert posted.status == 202, posted.body
    assert posted.headers["access-control-allow-origin"] == APP
    assert set(posted.headers["access-control-expose-headers"].split(", ")) == {
        "Idempotent-Replayed",
        "Location",
        "Retry-After",
        "WWW-Authenticate",
    }
    assert "good-from-app" in {task["action"] for task in list_tasks(service.base_url)["tasks"]}


def test_every_answer_says_nosniff(service):
    # A JSON answer is never run as a script or styled as CSS by a page that embeds it
    assert request(service.base_url, "GET", "/tasks").headers["x-content-type-options"] == (
        "nosniff"
    )
