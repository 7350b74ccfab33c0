"""One webhook try over HTTP: signed as Standard Webhooks says, and kept from reaching
what it should not.

Signing: ``webhook-signature`` is ``v1,`` and the base64 of HMAC-SHA256, keyed
with the secret's bytes, over ``{webhook-id}.{webhook-timestamp}.{body}``; the
secret is written ``whsec_`` and its base64.

Server-side request forgery: the host is resolved here, every address it
resolves to is checked (private, loopback, link-local, multicast and other
non-public ranges are refused unless an allowed network holds them), and the
connection goes to the address that passed, never to a second resolution.
A try is bounded: 10 s in all (a timer closes the socket at the deadline,
whatever the server trickles), no redirect is followed (a 3xx is a failed
try), and at most 64 KiB of the response body is read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

TRY_TIMEOUT_SECONDS = 10.0
MAX_RESPONSE_BYTES = 64 * 1024
SECRET_PREFIX = "whsec_"
MIN_SECRET_BYTES = 16
USER_AGENT = "taskqueue-webhooks/1"

Resolver = Callable[[str, int], list[str]]


def parse_secret(text: str) -> bytes:
    """The HMAC key of a secret written ``whsec_<base64>``; raises ``ValueError``."""
    text = text.strip()
    if not text.startswith(SECRET_PREFIX):
        raise ValueError(f"a webhook secret starts with {SECRET_PREFIX!r}, then base64")
    try:
        key = base64.b64decode(text[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the webhook secret after 'whsec_' is not base64") from None
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"the webhook secret must hold at least {MIN_SECRET_BYTES} bytes")
    return key


def sign(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header's value."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(key: bytes, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(key, message_id, timestamp, body),
    }


class AddressPolicy:
    """Which addresses a webhook may reach: public ones, and those of ``allow_nets``."""

    def __init__(self, allow_nets: Sequence[str] = ()) -> None:
        self.allow_nets = [ipaddress.ip_network(net, strict=False) for net in allow_nets]

    def refusal(self, address: str) -> str | None:
        """Why ``address`` may not be reached, or None."""
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        mapped = getattr(ip, "ipv4_mapped", None)
        if mapped is not None:
            ip = mapped
        if any(ip.version == net.version and ip in net for net in self.allow_nets):
            return None
        for kind in ("loopback", "link_local", "private", "multicast", "reserved", "unspecified"):
            if getattr(ip, f"is_{kind}"):
                return f"{address} is a {kind.replace('_', '-')} address"
        if not ip.is_global:
            return f"{address} is not a public address"
        return None


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in the resolver's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


@dataclass(frozen=True)
class Answer:
    status_code: int | None
    error: str | None = None


def post(
    url: str,
    body: bytes,
    request_headers: dict[str, str],
    policy: AddressPolicy,
    timeout_seconds: float = TRY_TIMEOUT_SECONDS,
    resolver: Resolver = resolve,
) -> Answer:
    """POST ``body`` to ``url`` once; never raises for what the network does."""
    deadline = time.monotonic() + timeout_seconds
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return Answer(None, f"not an http(s) URL: {url!r}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return Answer(None, "bad port in the URL")
    host = parts.hostname
    try:
        addresses = resolver(host, port)
    except (OSError, UnicodeError) as exc:
        return Answer(None, f"cannot resolve {host}: {exc}")
    refused = [(a, why) for a in addresses if (why := policy.refusal(a)) is not None]
    allowed = [a for a in addresses if policy.refusal(a) is None]
    if not allowed:
        why = refused[0][1] if refused else "no address"
        return Answer(None, f"refused: {host} resolves to {why}; see --webhook-allow-net")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    last_error = "no address"
    for address in allowed:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return Answer(None, f"timed out after {timeout_seconds:g} s")
        try:
            sock = socket.create_connection((address, port), timeout=remaining)
        except OSError as exc:
            last_error = f"cannot connect to {address}:{port}: {exc}"
            continue
        return _exchange(sock, parts.scheme, host, port, path, body, request_headers, deadline)
    return Answer(None, last_error)


def _exchange(
    sock: socket.socket,
    scheme: str,
    host: str,
    port: int,
    path: str,
    body: bytes,
    request_headers: dict[str, str],
    deadline: float,
) -> Answer:
    watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), _cut, (sock,))
    watchdog.daemon = True
    watchdog.start()
    connection = http.client.HTTPConnection(host, port, timeout=deadline - time.monotonic())
    try:
        if scheme == "https":
            context = ssl.create_default_context()
            sock = context.wrap_socket(sock, server_hostname=host)
        # The connection is already open, to the address that was checked: http.client
        # uses it as is and never resolves the host again (the Host header names it).
        connection.sock = sock
        connection.request("POST", path, body=body, headers=request_headers)
        response = connection.getresponse()
        response.read(MAX_RESPONSE_BYTES)  # the rest is never read: the socket is closed
        return Answer(response.status)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if time.monotonic() >= deadline:
            return Answer(None, "timed out")
        return Answer(None, f"{type(exc).__name__}: {exc}")
    finally:
        watchdog.cancel()
        connection.close()
        sock.close()


def _cut(sock: socket.socket) -> None:
    """At the deadline: make whatever read or write the try is blocked in fail."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
