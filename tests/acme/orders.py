"""Driving an order through the test client: identifiers, validation, CSRs."""

from __future__ import annotations

import base64
import ipaddress
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from werkzeug.test import TestResponse

from tests.acme.client import AcmeTestClient, Responder, wait_for


def identifiers(*values: str) -> list[dict[str, str]]:
    """dns or ip identifiers, by the look of each value."""
    out = []
    for value in values:
        try:
            ipaddress.ip_address(value)
            out.append({"type": "ip", "value": value})
        except ValueError:
            out.append({"type": "dns", "value": value})
    return out


def csr_der(*names: str, key: Any = None) -> bytes:
    """A CSR with an empty subject and `names` in its SAN (as ACME clients make them)."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for name in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    csr = (x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
           .add_extension(x509.SubjectAlternativeName(sans), critical=False).sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.DER)


def weak_rsa_key() -> rsa.RSAPrivateKey:
    """A 1024-bit RSA key (the policy wants 2048 at least)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


def b64(data: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def ready_order(client: AcmeTestClient, responder: Responder, *names: str) -> tuple[str, dict[str, Any]]:
    """An order for `names` with every authorization validated: (order URL, order body)."""
    created = client.post("/new-order", {"identifiers": identifiers(*names)})
    assert created.status_code == 201, created.get_json()
    order_url, order = created.headers["Location"], created.get_json()
    for authz_url in order["authorizations"]:
        authz = client.post(authz_url).get_json()
        challenge = next(c for c in authz["challenges"] if c["type"] == "http-01")
        responder.answers[challenge["token"]] = client.key_authorization(challenge["token"])
        assert client.post(challenge["url"], {}).status_code == 200
        assert wait_for(client, authz_url, ("valid", "invalid"))["status"] == "valid"
    return order_url, wait_for(client, order_url, ("ready", "invalid"))


def finalize(client: AcmeTestClient, order: dict[str, Any], der: bytes) -> TestResponse:
    """POST the CSR to the order's finalize URL."""
    return client.post(order["finalize"], {"csr": b64(der)})
