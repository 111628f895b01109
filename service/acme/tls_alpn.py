"""The tls-alpn-01 check (RFC 8737; RFC 8738 §6 for IPs): ALPN acme-tls/1, then the self-signed proof certificate."""

from __future__ import annotations

import hashlib
import ipaddress
import socket
import ssl
from collections.abc import Mapping
from typing import Any

from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier

from service.acme.http01 import TIMEOUT_SECONDS, Fetched, connect_address

ALPN = "acme-tls/1"
ACME_IDENTIFIER = ObjectIdentifier("1.3.6.1.5.5.7.1.31")


def server_name(kind: str, value: str) -> str:
    """The SNI to send: the DNS name, or the reverse-mapping name of an IP (RFC 8738 §6)."""
    return ipaddress.ip_address(value).reverse_pointer if kind == "ip" else value


def check_tls_alpn01(kind: str, value: str, key_authorization: str, *, port: int, hosts: Mapping[str, str],
                     timeout: float = TIMEOUT_SECONDS) -> Fetched:
    """Handshake with ALPN acme-tls/1 and check the certificate names exactly `value` and carries
    the critical acmeIdentifier extension holding SHA-256(key authorization)."""
    fetched = Fetched(None, None)
    hop: dict[str, Any] = {"sni": server_name(kind, value), "port": port, "alpn": ALPN}
    fetched.hops.append(hop)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the proof is the extension, not a chain
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols([ALPN])
    try:
        address = connect_address(value, port, hosts)
        hop["address"] = address
        with socket.create_connection((address, port), timeout=timeout) as raw:
            with context.wrap_socket(raw, server_hostname=hop["sni"]) as tls:
                selected = tls.selected_alpn_protocol()
                der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError, UnicodeError, ValueError) as exc:
        hop["error"] = type(exc).__name__
        fetched.problem = ("connection", f"TLS to {hop.get('address', '?')}:{port} (SNI {hop['sni']}): {exc}")
        return fetched
    hop["selected_alpn"] = selected
    if selected != ALPN or der is None:
        fetched.problem = ("unauthorized", f"the server did not negotiate ALPN {ALPN}")
        return fetched
    fetched.problem = _proof_problem(x509.load_der_x509_certificate(der), kind, value, key_authorization)
    if fetched.problem is None:
        fetched.body = b"ok"
    return fetched


def _proof_problem(cert: x509.Certificate, kind: str, value: str, key_authorization: str) -> tuple[str, str] | None:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        proof = cert.extensions.get_extension_for_oid(ACME_IDENTIFIER)
    except (x509.ExtensionNotFound, ValueError):
        return ("incorrectResponse", "the certificate needs a subjectAltName and the acmeIdentifier extension")
    names = [str(n.value).lower() for n in san]
    expected = ipaddress.ip_address(value) if kind == "ip" else value
    if len(names) != 1 or names[0] != str(expected).lower():
        return ("incorrectResponse", f"the certificate must name exactly {value}")
    digest = hashlib.sha256(key_authorization.encode()).digest()
    raw = proof.value.value if isinstance(proof.value, x509.UnrecognizedExtension) else b""
    if not proof.critical or raw != b"\x04\x20" + digest:
        return ("incorrectResponse", "the acmeIdentifier extension does not hold the key authorization's digest")
    return None
