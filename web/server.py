"""The HTTP server: CherryPy's cheroot, made safe against slow and idle clients.

Cheroot hands a new connection to a request thread at once, and that thread
then waits on every ``recv`` for up to the socket timeout, which a client
renews with each byte it sends. Sixteen clients sending a header line every
few seconds held all sixteen threads; forty that sent nothing, too. Here:

- **A thread only for a request whose head is in.** One selector thread
  (the ``Gatherer``, web/gatherer.py) accepts connections and reads, without
  blocking, what each sends, until the request line and headers are complete;
  only then does the connection go to a request thread, with those bytes in
  front of the socket (``RequestSocketIO``, web/connection.py). Cheroot
  already did this for keep-alive connections between requests; now a new
  connection and the head of every request wait the same way, at no thread's
  cost. TLS handshakes are driven the same way.
- **Deadlines per request, not per recv.** From its first byte, a request has
  ``--request-timeout`` seconds for its headers and body together: the
  selector answers 408 to a head not complete by then, and a request thread
  reading a body stops at the same deadline. A connection with no request
  under way is closed after ``--idle-timeout``.
- **A cap on connections per client address** (``--max-client-connections``)
  and on connections in all (``MAX_CONNECTIONS``, within the process's file
  descriptor limit); a connection over either is answered 503 and closed.

Written against cheroot 11.1.2 and CherryPy 18.10.0 (setup.py pins their
ranges). It replaces cheroot's ``ConnectionManager`` (the object
``HTTPServer.prepare`` stores as ``_connections``, on which the server calls
``run``, ``put``, ``stop``, ``close`` and ``can_add_keepalive_connection``)
and subclasses ``HTTPConnection`` and CherryPy's ``CPWSGIServer``.
"""

from __future__ import annotations

import resource
import ssl

import cherrypy
from cherrypy._cpwsgi_server import CPWSGIServer

from .config import MAX_CONNECTIONS, MAX_HEADER_BYTES, WebConfig
from .connection import Connection
from .gatherer import Gatherer

RESERVED_DESCRIPTORS = 256  # for the database, log files and the rest of the process


def connection_budget() -> int:
    """How many connections may be open at once: ``MAX_CONNECTIONS``, within the process's
    file descriptor limit (whose soft value is raised to the hard one if that helps)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = MAX_CONNECTIONS + RESERVED_DESCRIPTORS
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(16, min(MAX_CONNECTIONS, soft - RESERVED_DESCRIPTORS))


class Server(CPWSGIServer):
    """CherryPy's WSGI server with the ``Gatherer`` in place of cheroot's connection
    manager, ``Connection`` for its connections, and the limits of ``WebConfig``."""

    def __init__(self, server_adapter, config: WebConfig) -> None:
        super().__init__(server_adapter)
        self.ConnectionClass = Connection
        self.timeout = config.idle_timeout_seconds
        self.max_request_header_size = MAX_HEADER_BYTES
        # Cheroot answers a Content-Length over this with a JSON 413 before reading the
        # body (and before any 100 Continue); handlers check the size of what they read.
        self.max_request_body_size = config.max_body_bytes
        self.keep_alive_conn_limit = None
        self._config = config

    def prepare(self) -> None:
        super().prepare()
        self._connections.close()
        self._connections = Gatherer(self, self._config, connection_budget())


def install(config: WebConfig) -> None:
    """Make ``cherrypy.server`` serve through ``Server``; call before the engine starts."""
    adapter = cherrypy.server
    if config.tls:
        adapter.ssl_module = "builtin"
        adapter.ssl_certificate = config.tls_cert
        adapter.ssl_private_key = config.tls_key
    adapter.httpserver = Server(adapter, config)


def tls_problem(config: WebConfig) -> str | None:
    """Why ``--tls-cert`` and ``--tls-key`` cannot serve HTTPS, or None."""
    if (config.tls_cert is None) != (config.tls_key is None):
        return "--tls-cert and --tls-key go together: give both, or neither"
    if config.tls_cert is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        # An encrypted key is refused rather than prompted for: the service runs unattended.
        context.load_cert_chain(config.tls_cert, config.tls_key, password=lambda: b"")
    except (ssl.SSLError, OSError) as exc:
        return (
            f"cannot serve HTTPS with --tls-cert {config.tls_cert} and --tls-key "
            f"{config.tls_key}: {exc} (the key must be PEM, unencrypted, and match the "
            "certificate)"
        )
    return None
