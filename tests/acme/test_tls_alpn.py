"""tls-alpn-01 (RFC 8737, RFC 8738 §6): the proof certificate over ALPN acme-tls/1, checked against a real TLS server."""

from __future__ import annotations

import hashlib
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from service.acme.tls_alpn import ACME_IDENTIFIER, ALPN, check_tls_alpn01, server_name

KEY_AUTHZ = "token.thumbprint"


def _proof(path: Path, name: str, digest_of: str, *, critical: bool = True) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    try:
        san: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        san = x509.DNSName(name)
    now = datetime.now(UTC)
    value = b"\x04\x20" + hashlib.sha256(digest_of.encode()).digest()
    cert = (x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(x509.Name([]))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([san]), critical=True)
            .add_extension(x509.UnrecognizedExtension(ACME_IDENTIFIER, value), critical=critical)
            .sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return path


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, list[str], dict[str, Path]]]:
    """A TLS server presenting `proofs["cert"]` with ALPN `alpn[0]`; records the SNI it saw."""
    seen: list[str] = []
    proofs: dict[str, Path] = {}
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    alpn = [ALPN]

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(proofs["cert"])
            context.set_alpn_protocols(alpn)
            context.sni_callback = lambda _s, name, _c: seen.append(str(name)) or None
            try:
                with context.wrap_socket(conn, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                pass

    threading.Thread(target=serve, daemon=True).start()
    yield port, seen, proofs
    listener.close()


def test_a_valid_proof_passes_and_the_sni_is_the_name(tls_server: tuple[int, list[str], dict[str, Path]],
                                                      tmp_path: Path) -> None:
    port, seen, proofs = tls_server
    proofs["cert"] = _proof(tmp_path / "ok.pem", "www.example.com", KEY_AUTHZ)
    checked = check_tls_alpn01("dns", "www.example.com", KEY_AUTHZ, port=port, hosts={"www.example.com": "127.0.0.1"})
    assert checked.problem is None
    assert seen == ["www.example.com"] and checked.hops[0]["selected_alpn"] == ALPN


def test_an_ip_is_asked_for_by_its_reverse_name(tls_server: tuple[int, list[str], dict[str, Path]], tmp_path: Path) -> None:
    port, seen, proofs = tls_server
    proofs["cert"] = _proof(tmp_path / "ip.pem", "1.2.3.4", KEY_AUTHZ)
    assert check_tls_alpn01("ip", "1.2.3.4", KEY_AUTHZ, port=port, hosts={"1.2.3.4": "127.0.0.1"}).problem is None
    assert seen == ["4.3.2.1.in-addr.arpa"] == [server_name("ip", "1.2.3.4")]


@pytest.mark.parametrize(("name", "digest_of", "critical"), [
    ("www.example.com", "another.key-authorization", True),
    ("other.example.com", KEY_AUTHZ, True),
    ("www.example.com", KEY_AUTHZ, False),
])
def test_a_wrong_proof_is_incorrect_response(tls_server: tuple[int, list[str], dict[str, Path]], tmp_path: Path,
                                             name: str, digest_of: str, critical: bool) -> None:
    port, _, proofs = tls_server
    proofs["cert"] = _proof(tmp_path / "bad.pem", name, digest_of, critical=critical)
    checked = check_tls_alpn01("dns", "www.example.com", KEY_AUTHZ, port=port, hosts={"www.example.com": "127.0.0.1"})
    assert checked.problem is not None and checked.problem[0] == "incorrectResponse"


def test_no_listener_is_a_connection_problem() -> None:
    checked = check_tls_alpn01("dns", "www.example.com", KEY_AUTHZ, port=1, hosts={"www.example.com": "127.0.0.1"}, timeout=2)
    assert checked.problem is not None and checked.problem[0] == "connection"
