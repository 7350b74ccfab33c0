"""What a web page in someone's browser may make the service do: nothing, unless its
origin is the service's own or listed in ``--allow-origin``.

- **Origin.** Browsers send ``Origin`` with every POST and every cross-origin
  request in ``cors`` mode (Chromium sends none with a ``no-cors`` GET, whose
  answer the page cannot read anyway). One from another origin gets 403, unless
  ``--allow-origin`` lists it; only a listed origin gets CORS headers, so only its
  pages can read the answers. Preflights (``OPTIONS`` with
  ``Access-Control-Request-Method``) from a listed origin are answered 204.
- **Host.** While the service listens on a loopback address, a request whose
  ``Host`` is not a loopback name (``localhost``, ``127.0.0.1``, ``[::1]``), the
  ``--host`` given, or listed in ``--allow-host``, gets 421: a page that rebinds its
  own DNS name to 127.0.0.1 (DNS rebinding) is same-origin with itself, but sends
  its own name as ``Host``.
- **Fetch metadata.** A request without ``Origin`` (a ``no-cors`` GET: an
  ``<img>``, a ``<script>``, ``fetch(url, {mode: "no-cors"})``) whose
  ``Sec-Fetch-Site`` says another site's page made it (``cross-site``, or
  ``same-site``: another port of the same host is another application) gets 403,
  unless it is the browser following a link (a top-level navigation to a
  document). Its answer was opaque to the page already; refusing it also keeps
  such pages from making the service read listings on their behalf, or from
  learning anything from timing. Clients that are not browsers send no
  ``Sec-Fetch-Site``, and are unaffected.
- **Types.** A body must be declared JSON (``body.py``): the requests a page may
  send without a preflight carry ``text/plain``, form or no types.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
DEFAULT_PORTS = {"http": 80, "https": 443}
PREFLIGHT_MAX_AGE_SECONDS = 600
# Sec-Fetch-Site values of a request the service's own page made, or the user typed.
SAME_ORIGIN_SITES = frozenset(("same-origin", "none"))
# What a listed origin's page may send beyond the headers every page may (Accept and
# the like): its token, a JSON body's type, and a POST's key for a safe retry.
ALLOWED_REQUEST_HEADERS = "Authorization, Content-Type, Idempotency-Key"
# What its script may read beyond the few headers every answer shows (Content-Type...).
EXPOSED_RESPONSE_HEADERS = "Idempotent-Replayed, Location, Retry-After, WWW-Authenticate"


class BadOrigin(ValueError):
    pass


def parse_origin(text: str) -> tuple[str, str, int]:
    """``scheme://host[:port]`` as (scheme, host, port); raises ``BadOrigin``."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        raise BadOrigin(f"not an origin: {text!r}") from None
    scheme = parts.scheme.lower()
    if (
        scheme not in DEFAULT_PORTS
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username
        or parts.password
    ):
        raise BadOrigin(f"not an origin (scheme://host[:port]): {text!r}")
    return scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme]


def split_host(header: str) -> tuple[str, int | None]:
    """A ``Host`` header as (name, port): ``[::1]:8080`` → (``[::1]``, 8080). Raises
    ``ValueError`` for a malformed one."""
    header = header.strip().lower()
    if header.startswith("["):
        name, bracket, rest = header.partition("]")
        if not bracket:
            raise ValueError("malformed Host")
        name += "]"
        port_text = rest[1:] if rest.startswith(":") else None
        if rest and port_text is None:
            raise ValueError("malformed Host")
    else:
        name, colon, port_text = header.partition(":")
        if not colon:
            port_text = None
    if not name or any(c in name for c in " /\\@?#"):
        raise ValueError("malformed Host")
    if port_text is None:
        return name, None
    if not port_text.isdigit() or not port_text.isascii() or int(port_text) > 65535:
        raise ValueError("malformed Host")
    return name, int(port_text)


def host_name(host: str) -> str:
    """``--host`` or ``--allow-host`` as a Host header's name part (IPv6 in brackets)."""
    host = host.strip().lower()
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


@dataclass(frozen=True)
class Refusal:
    status: int
    message: str


class BrowserPolicy:
    def __init__(
        self,
        check_host: bool,
        allowed_hosts: tuple[str, ...] = (),
        allowed_origins: tuple[str, ...] = (),
    ) -> None:
        self._check_host = check_host
        self._hosts = frozenset(LOOPBACK_HOSTS) | {host_name(h) for h in allowed_hosts}
        self._origins = frozenset(parse_origin(origin) for origin in allowed_origins)

    def check_host(self, host: str | None, http_1_1: bool) -> Refusal | None:
        if host is None:
            # HTTP/1.1 requires it (RFC 9112, section 3.2); an HTTP/1.0 client may omit it.
            return Refusal(400, "the Host header is missing") if http_1_1 else None
        try:
            name, _ = split_host(host)
        except ValueError:
            return Refusal(400, "the Host header is malformed")
        if self._check_host and name not in self._hosts:
            return Refusal(
                421, "this service is not served under that Host name (see --allow-host)"
            )
        return None

    def check_origin(self, origin: str, scheme: str, host: str | None) -> tuple[bool, bool]:
        """(allowed, listed): whether a request with this ``Origin`` may go on, and whether
        it is a listed origin, which gets CORS headers."""
        try:
            parsed = parse_origin(origin)
        except BadOrigin:
            return False, False  # "null" (sandboxed frames, file: pages), or garbage
        if parsed in self._origins:
            return True, True
        if host is not None:
            try:
                name, port = split_host(host)
            except ValueError:
                return False, False
            own = (scheme, name.strip("[]"), port or DEFAULT_PORTS.get(scheme, 0))
            if parsed == own:
                return True, False
        return False, False

    @staticmethod
    def check_fetch_site(headers, method: str) -> Refusal | None:
        """For a request without ``Origin``: refused if a browser says another site's page
        made it, other than by following a link (see the module's docstring)."""
        site = headers.get("Sec-Fetch-Site")
        if site is None or site in SAME_ORIGIN_SITES:
            return None
        followed_a_link = (
            method in ("GET", "HEAD")
            and headers.get("Sec-Fetch-Mode") == "navigate"
            and headers.get("Sec-Fetch-Dest") in ("document", None)
        )
        if followed_a_link:
            return None
        return Refusal(403, "requests made by another site's page are not allowed")

    @staticmethod
    def cors_headers(origin: str) -> list[tuple[str, str]]:
        return [
            ("Access-Control-Allow-Origin", origin),
            ("Access-Control-Expose-Headers", EXPOSED_RESPONSE_HEADERS),
            ("Vary", "Origin"),
        ]

    @staticmethod
    def preflight_headers(methods: str) -> list[tuple[str, str]]:
        return [
            ("Access-Control-Allow-Methods", methods),
            ("Access-Control-Allow-Headers", ALLOWED_REQUEST_HEADERS),
            ("Access-Control-Max-Age", str(PREFLIGHT_MAX_AGE_SECONDS)),
        ]
