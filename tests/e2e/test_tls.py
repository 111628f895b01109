"""`certgate serve --tls`: HTTPS with certgate's own certificate, TLS 1.2/1.3 and FS AEAD suites only."""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import stat
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography import x509

from service.ca.authority import CertificateAuthority
from service.process.tls import (RENEW_BEFORE, SERVER_VALIDITY, TLS12_CIPHERS, ServerNames, TlsContextSource, TlsPaths,
                         ensure_server_certificate, needs_renewal)
from tests.e2e.conftest import LiveServer, start_server, stop_server

pytestmark = pytest.mark.e2e

NEEDS_OPENSSL = pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is not installed")


@pytest.fixture(scope="module", params=["gunicorn", "granian"])
def tls_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One `certgate serve --tls` per server kind for the module."""
    server = start_server(tmp_path_factory.mktemp("tls"), workers=1, serve_args=("--tls", "--server", request.param),
                          token_keys=())
    yield server
    stop_server(server)


def _address(server: LiveServer) -> tuple[str, int]:
    parts = urlsplit(server.url)
    assert parts.hostname and parts.port
    return parts.hostname, parts.port


def _root_only(server: LiveServer) -> ssl.SSLContext:
    """A client that trusts certgate's root and nothing else (not the system store)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=str(server.data_dir / "ca" / "root.pem"))
    return context


def _get_healthz(server: LiveServer, context: ssl.SSLContext, server_hostname: str = "127.0.0.1") -> tuple[str, str, dict[str, str]]:
    """GET /healthz over one TLS connection: (protocol version, cipher, JSON body)."""
    with socket.create_connection(_address(server), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=server_hostname) as tls:
            version, cipher = tls.version(), tls.cipher()
            tls.sendall(f"GET /healthz HTTP/1.1\r\nHost: {server_hostname}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    assert version is not None and cipher is not None
    return version, cipher[0], json.loads(body)


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2])
def test_a_client_trusting_only_the_root_connects(tls_server: LiveServer, version: ssl.TLSVersion) -> None:
    context = _root_only(tls_server)
    context.minimum_version = context.maximum_version = version
    got_version, cipher, body = _get_healthz(tls_server, context)
    assert body["status"] == "ok"
    assert got_version == {ssl.TLSVersion.TLSv1_3: "TLSv1.3", ssl.TLSVersion.TLSv1_2: "TLSv1.2"}[version]
    if version is ssl.TLSVersion.TLSv1_2:
        assert cipher.startswith("ECDHE-") and ("GCM" in cipher or "CHACHA20" in cipher)
    assert "256" in cipher  # 256-bit suites come first and the server's order wins


def test_the_certificate_names_localhost_and_verifies_by_name(tls_server: LiveServer) -> None:
    _version, _cipher, body = _get_healthz(tls_server, _root_only(tls_server), server_hostname="localhost")
    assert body["status"] == "ok"
    with pytest.raises(ssl.SSLCertVerificationError):
        _get_healthz(tls_server, _root_only(tls_server), server_hostname="certgate.example")


def test_an_unknown_ca_is_refused_by_the_client(tls_server: LiveServer) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_default_certs()
    with pytest.raises(ssl.SSLCertVerificationError):
        _get_healthz(tls_server, context)


def test_the_server_files_short_lived_key_private(tls_server: LiveServer) -> None:
    tls_dir = tls_server.data_dir / "tls"
    assert stat.S_IMODE(os.stat(tls_dir / "server.key.pem").st_mode) == 0o600
    chain = x509.load_pem_x509_certificates((tls_dir / "server.pem").read_bytes())
    issuing = x509.load_pem_x509_certificate((tls_server.data_dir / "ca" / "issuing.pem").read_bytes())
    assert len(chain) == 2 and chain[1] == issuing
    chain[0].verify_directly_issued_by(issuing)
    lifetime = chain[0].not_valid_after_utc - chain[0].not_valid_before_utc
    assert lifetime <= SERVER_VALIDITY + timedelta(minutes=5)
    assert chain[0].not_valid_after_utc > datetime.now(UTC)
    basic = chain[0].extensions.get_extension_for_class(x509.BasicConstraints).value
    assert basic.ca is False


def _s_client(server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    host, port = _address(server)
    return subprocess.run(["openssl", "s_client", "-connect", f"{host}:{port}", "-servername", "localhost",
                           "-CAfile", str(server.data_dir / "ca" / "root.pem"), *args],
                          input="", capture_output=True, text=True, timeout=30)


def _negotiated(result: subprocess.CompletedProcess[str]) -> str | None:
    """The cipher s_client reports, or None when no session was set up."""
    for line in result.stdout.splitlines():
        if ", Cipher is " in line:
            cipher = line.rsplit(" ", 1)[-1]
            return None if cipher == "(NONE)" else cipher
    return None


@NEEDS_OPENSSL
def test_openssl_s_client_sees_the_chain_and_tls13(tls_server: LiveServer) -> None:
    result = _s_client(tls_server, "-tls1_3")
    assert _negotiated(result) == "TLS_AES_256_GCM_SHA384", result.stdout + result.stderr
    assert "Verify return code: 0 (ok)" in result.stdout


@NEEDS_OPENSSL
def test_the_server_order_puts_256_bit_first(tls_server: LiveServer) -> None:
    """gunicorn (OpenSSL) answers in the server's order; granian (rustls) follows the client's
    order among the same suites, which is the one part of the policy it cannot keep."""
    result = _s_client(tls_server, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384")
    expected = "ECDHE-ECDSA-AES256-GCM-SHA384" if tls_server.server_kind == "gunicorn" else "ECDHE-ECDSA-AES128-GCM-SHA256"
    assert _negotiated(result) == expected, result.stdout + result.stderr


# SECLEVEL=0 lets OpenSSL 3's client offer these at all, so that the refusal is the server's.
@NEEDS_OPENSSL
@pytest.mark.parametrize("args", [
    pytest.param(("-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"), id="tls1.1"),
    pytest.param(("-tls1", "-cipher", "DEFAULT@SECLEVEL=0"), id="tls1.0"),
])
def test_old_protocol_versions_are_refused(tls_server: LiveServer, args: tuple[str, ...]) -> None:
    result = _s_client(tls_server, *args)
    assert _negotiated(result) is None, result.stdout
    # The server's alert, not a client-side refusal: rustls answers an old version with handshake_failure.
    alert = "alert protocol version" if tls_server.server_kind == "gunicorn" else "alert handshake failure"
    assert alert in result.stderr, result.stderr


@NEEDS_OPENSSL
@pytest.mark.parametrize("cipher", [
    pytest.param("AES256-GCM-SHA384", id="rsa-key-exchange"),
    pytest.param("AES128-SHA", id="rsa-kx-cbc-sha1"),
    pytest.param("ECDHE-ECDSA-AES256-SHA384", id="ecdhe-cbc"),
    pytest.param("ECDHE-ECDSA-AES128-SHA", id="ecdhe-cbc-sha1"),
    pytest.param("DHE-RSA-AES256-GCM-SHA384", id="finite-field-dhe"),
])
def test_suites_without_forward_secrecy_or_aead_are_refused(tls_server: LiveServer, cipher: str) -> None:
    result = _s_client(tls_server, "-tls1_2", "-cipher", f"{cipher}@SECLEVEL=0")
    assert _negotiated(result) is None, result.stdout
    assert "alert handshake failure" in result.stderr, result.stderr


def test_plain_http_on_the_tls_port_gets_no_api_answer(tls_server: LiveServer) -> None:
    with socket.create_connection(_address(tls_server), timeout=10) as raw:
        raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        try:
            data = raw.recv(65536)
        except ConnectionResetError:
            data = b""
    assert b'"status"' not in data


def test_a_fresh_certificate_is_kept_and_a_stale_one_renewed(ca_home: Path, tmp_path: Path) -> None:
    ca = CertificateAuthority.load(ca_home / "ca", None, "http://127.0.0.1:8000")
    paths = TlsPaths(tmp_path / "tls")
    names = ServerNames.for_host("127.0.0.1")
    now = datetime.now(UTC)
    assert needs_renewal(paths, ca, names, now)
    assert ensure_server_certificate(ca, paths, names, now)
    first = paths.cert.read_bytes()
    assert stat.S_IMODE(os.stat(paths.key).st_mode) == 0o600
    assert not needs_renewal(paths, ca, names, now)
    assert not ensure_server_certificate(ca, paths, names, now)
    assert paths.cert.read_bytes() == first
    assert needs_renewal(paths, ca, ServerNames.for_host("127.0.0.1", ["certgate.test"]), now)
    assert needs_renewal(paths, ca, names, now + SERVER_VALIDITY - RENEW_BEFORE + timedelta(minutes=1))
    later = now + SERVER_VALIDITY - timedelta(days=1)
    assert ensure_server_certificate(ca, paths, names, later)
    assert paths.cert.read_bytes() != first
    assert stat.S_IMODE(os.stat(paths.key).st_mode) == 0o600
    paths.key.write_bytes(paths.key.read_bytes()[:40])  # a damaged key is replaced, never served
    assert needs_renewal(paths, ca, names, later)


def test_server_names_follow_the_bind_host() -> None:
    assert ServerNames.for_host("127.0.0.1") == ServerNames(("localhost",), ("127.0.0.1", "::1"))
    assert ServerNames.for_host("0.0.0.0") == ServerNames(("localhost",), ("127.0.0.1", "::1"))
    assert ServerNames.for_host("certgate.internal", ["10.0.0.5", "LOCALHOST"]) == ServerNames(
        ("localhost", "certgate.internal"), ("127.0.0.1", "::1", "10.0.0.5"))


def test_the_context_hook_caches_reloads_and_renews(ca_home: Path, tmp_path: Path) -> None:
    ca = CertificateAuthority.load(ca_home / "ca", None, "http://127.0.0.1:8000")
    paths = TlsPaths(tmp_path / "tls")
    names = ServerNames.for_host("127.0.0.1")
    now = [datetime.now(UTC)]
    loads: list[int] = []

    def factory() -> ssl.SSLContext:  # what gunicorn's default factory does with certfile/keyfile
        loads.append(1)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(paths.cert, paths.key)
        return context

    source = TlsContextSource(ca, paths, names, lambda: now[0], recheck_seconds=0)
    first = source(None, factory)
    assert paths.cert.exists() and len(loads) == 1
    assert first.minimum_version is ssl.TLSVersion.TLSv1_2
    assert all(c["name"] in TLS12_CIPHERS.split(":") for c in first.get_ciphers() if c["protocol"] == "TLSv1.2")
    assert source(None, factory) is first and len(loads) == 1  # cached: no file read per connection
    issued = paths.cert.read_bytes()
    now[0] += SERVER_VALIDITY - timedelta(days=1)  # near expiry: the next connection renews
    renewed = source(None, factory)
    assert renewed is not first and len(loads) == 2 and paths.cert.read_bytes() != issued
