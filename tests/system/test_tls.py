"""HTTPS with --tls-cert and --tls-key, through cheroot's built-in adapter (issue 12, "TLS").

The certificate is a self-signed one for 127.0.0.1 and localhost, made here with
the ``cryptography`` package; the clients trust exactly it.
"""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import socket
import ssl
from pathlib import Path

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bench.slow_clients import Attack, probe

from .test_exposure import run_py

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "taskqueue test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def client_context(cert_path: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert_path))


def https(port: int, context: ssl.SSLContext, timeout: float = 10.0):
    return lambda: http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=context)


def test_https_accepts_tasks_and_plain_http_is_told_to_use_it(
    certificate, sqlite_url, start_service
):
    cert_path, key_path = certificate
    service = start_service(
        sqlite_url,
        "--simulated-work",
        "0",
        "--tls-cert",
        str(cert_path),
        "--tls-key",
        str(key_path),
    )
    connect = https(service.port, client_context(cert_path))
    # A task over HTTPS, then read back on the same (kept-alive) connection
    connection = connect()
    try:
        connection.request(
            "POST", "/tasks", b'{"action": "uppercase"}', {"Content-Type": "application/json"}
        )
        accepted = connection.getresponse()
        body = orjson.loads(accepted.read())
        assert accepted.status == 202, body
        connection.request("GET", f"/tasks/{body['id']}")
        read = connection.getresponse()
        assert read.status == 200 and orjson.loads(read.read())["id"] == body["id"]
        assert connection.sock.version() in ("TLSv1.2", "TLSv1.3")
        # A page of the service's own HTTPS origin is served; its HTTP twin is another origin
        for origin, status in (
            (f"https://127.0.0.1:{service.port}", 202),
            (f"http://127.0.0.1:{service.port}", 403),
        ):
            connection.request(
                "POST",
                "/tasks",
                b'{"action": "uppercase"}',
                {"Content-Type": "application/json", "Origin": origin},
            )
            answer = connection.getresponse()
            answer.read()
            assert answer.status == status, origin
    finally:
        connection.close()
    # Plain HTTP to the HTTPS port gets a plain JSON 400 saying so
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as sock:
        sock.sendall(b"GET /tasks HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, json_body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), answer
    assert orjson.loads(json_body) == {"error": "this port speaks HTTPS only"}


def test_connections_that_never_finish_a_handshake_hold_no_thread(
    certificate, sqlite_url, start_service
):
    # Given: two request threads, 40 connections that never send a ClientHello, and 60
    # that complete it and then send a header line every 5 s
    cert_path, key_path = certificate
    service = start_service(
        sqlite_url,
        "--simulated-work",
        "0",
        "--threads",
        "2",
        "--tls-cert",
        str(cert_path),
        "--tls-key",
        str(key_path),
    )
    context = client_context(cert_path)
    silent = [socket.create_connection(("127.0.0.1", service.port)) for _ in range(40)]
    try:
        with Attack(
            service.port,
            idle=0,
            slow=60,
            wrap=lambda sock: context.wrap_socket(sock, server_hostname="127.0.0.1"),
        ) as attack:
            assert attack.all_open.wait(30), attack.stats
            # Then: HTTPS clients are served all along, each on a new connection
            result = probe(service.port, 3.0, 0.1, connect=https(service.port, context, 5.0))
    finally:
        for sock in silent:
            sock.close()
    assert not result.failures and result.answered >= 10, (result.summary(), result.failures)


def test_a_key_that_does_not_serve_is_a_usage_error(certificate, tmp_path):
    cert_path, _ = certificate
    (tmp_path / "key.pem").write_text("not a key\n")
    result = run_py("--tls-cert", str(cert_path), "--tls-key", str(tmp_path / "key.pem"))
    assert result.returncode == 2
    assert "cannot serve HTTPS with --tls-cert" in result.stderr
    alone = run_py("--tls-cert", str(cert_path))
    assert alone.returncode == 2 and "--tls-cert and --tls-key go together" in alone.stderr
