"""The fetcher over HTTPS (pipelines/io/fetch/network.py does the TLS): certificates are verified,
host names checked, a handshake that never finishes is a timeout, and a trusted server's body arrives."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from filters.base import Drop
from pipelines.io.fetch import ROBOTS_CACHE, FetchConfig, Fetched, fetch_urls
from tests.http_server import send_body

LOCAL = FetchConfig(timeout=1.0, retries=0, allow_private_network=True)
BODY = b"\xff\xd8\xff not really a jpeg, but image/jpeg all the same"


def _cert(subject: str, issuer_key, issuer: x509.Name | None, key, ca: bool) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A throw-away CA and a server certificate for IP 127.0.0.1 (no host name) signed by it."""
    folder = tmp_path_factory.mktemp("pki")
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _cert("test CA", ca_key, None, ca_key, ca=True)
    leaf = _cert("127.0.0.1", ca_key, ca.subject, leaf_key, ca=False)
    paths = {"ca": folder / "ca.pem", "cert": folder / "cert.pem", "key": folder / "key.pem"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        found = self.path == "/photo.jpg"
        if found:
            send_body(self, 200, BODY, "image/jpeg")
        else:
            send_body(self, 404, b"no", "text/plain")


@pytest.fixture(scope="module")
def https_port(pki: dict[str, Path]) -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["cert"], pki["key"])
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _fresh_robots() -> None:
    ROBOTS_CACHE.clear()


def _trusting(monkeypatch: pytest.MonkeyPatch, ca: Path) -> None:
    """The fetcher's verifying context (httpx's), with the test CA as its only root."""
    monkeypatch.setattr("httpx.create_ssl_context", lambda **_: ssl.create_default_context(cafile=str(ca)))


def test_a_trusted_server_is_fetched_over_tls(
    https_port: int, pki: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _trusting(monkeypatch, pki["ca"])
    [result] = fetch_urls([f"https://127.0.0.1:{https_port}/photo.jpg"], LOCAL)
    assert isinstance(result, Fetched), result
    assert result.content == BODY and result.final_url.startswith("https://")


def test_an_untrusted_certificate_is_a_connection_error(https_port: int) -> None:
    [result] = fetch_urls([f"https://127.0.0.1:{https_port}/photo.jpg"], LOCAL)
    assert isinstance(result, Drop) and result.reason == "connection_error", result
    assert "CERTIFICATE_VERIFY_FAILED" in result.detail


def test_a_certificate_for_another_name_is_refused(
    https_port: int, pki: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _trusting(monkeypatch, pki["ca"])  # trusted issuer, but the certificate names 127.0.0.1 only
    [result] = fetch_urls([f"https://localhost:{https_port}/photo.jpg"], LOCAL)
    assert isinstance(result, Drop) and result.reason == "connection_error", result


def test_a_handshake_that_never_finishes_is_a_timeout() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts TCP, never speaks TLS
        port = silent.getsockname()[1]
        quick = replace(LOCAL, timeout=0.5, respect_robots_txt=False)
        start = time.monotonic()
        [result] = fetch_urls([f"https://127.0.0.1:{port}/photo.jpg"], quick)
    assert isinstance(result, Drop) and result.reason == "timeout", result
    assert time.monotonic() - start < 3
