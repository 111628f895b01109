"""bench/cfssl_peer.py's pure parts: the cfssl config mirrors certgate's leaf profile, the sign
bodies are one line each, and the leaf check refuses a leaf without the CSR's names. No cfssl needed."""

from __future__ import annotations

import ipaddress
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.append(str(BENCH))  # after the project: bench module names must not shadow others

import cfssl_peer  # noqa: E402
from bare_issuer import BareCa, issue_pem  # noqa: E402
from service.ca.profile import Urls  # noqa: E402


def _csr(name: str, ip: str) -> bytes:
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name), x509.IPAddress(ipaddress.ip_address(ip))]),
                       critical=False)
        .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )


def test_config_uses_certgate_urls_validity_and_dv_policy() -> None:
    urls = Urls("http://127.0.0.1:8443")
    signing = cfssl_peer.cfssl_config(urls.base + "/")["signing"]
    ec_profile = signing["profiles"][cfssl_peer.PROFILE]
    rsa_profile = signing["profiles"][cfssl_peer.PROFILE_RSA_KEYS]
    assert ec_profile["crl_url"] == urls.crl
    assert ec_profile["ocsp_url"] == urls.ocsp
    assert ec_profile["issuer_urls"] == [urls.issuing_cert]
    assert ec_profile["expiry"] == "2160h"
    assert ec_profile["policies"] == [{"ID": "2.23.140.1.2.1"}]
    assert ec_profile["usages"] == ["digital signature", "server auth"]
    assert rsa_profile["usages"] == ["digital signature", "key encipherment", "server auth"]


def test_sign_body_is_one_json_line() -> None:
    pem = _csr("a.example.com", "5.6.7.1")
    body = cfssl_peer.sign_body(pem)
    assert "\n" not in body
    assert json.loads(body) == {"certificate_request": pem.decode(), "profile": cfssl_peer.PROFILE}


def test_check_leaf_accepts_the_csrs_names_and_refuses_others() -> None:
    ca = BareCa.create(datetime.now(UTC))
    csr = _csr("a.example.com", "5.6.7.1")
    leaf = x509.load_pem_x509_certificate(issue_pem(csr, ca, datetime.now(UTC)))
    assert "subjectAltName" in cfssl_peer.check_leaf(leaf, csr, ca.cert)
    with pytest.raises(cfssl_peer.PeerError, match="SANs"):
        cfssl_peer.check_leaf(leaf, _csr("b.example.com", "5.6.7.1"), ca.cert)
    other = BareCa.create(datetime.now(UTC))
    with pytest.raises(cfssl_peer.PeerError, match="chain"):
        cfssl_peer.check_leaf(leaf, csr, other.cert)
