"""The pre-issuance lint sees the same findings with the small trial key as with a full-size one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from service.ca.authority import TRIAL_RSA_BITS, CertificateAuthority, init_ca, new_serial, trial_key
from service.ca.keystore import CaKeyType
from service.ca.lint import LeafKind, Linter
from service.ca.profile import IssueOrder, leaf_builder
from tests.factories import key

NOW = datetime.now(UTC)

ORDERS: dict[str, dict[str, Any]] = {
    "dv": {"common_name": "www.example.com", "dns_names": ("www.example.com",), "ip_addresses": ()},
    "ov": {"common_name": "ov.example.com", "dns_names": ("ov.example.com",), "ip_addresses": ("5.6.7.8",),
           "organization": "Example Org", "country": "DE", "locality": "Berlin"},
    "internal": {"common_name": "10.0.0.5", "dns_names": ("intranet.local",), "ip_addresses": ("10.0.0.5",)},
    "client": {"common_name": "c.example.com", "dns_names": ("c.example.com",), "ip_addresses": (), "client_auth": True},
}


@pytest.fixture(scope="module")
def rsa_ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    home: Path = tmp_path_factory.mktemp("rsa-ca")
    init_ca(home, CaKeyType.RSA3072, None, NOW, "http://127.0.0.1:8000")
    return CertificateAuthority.load(home, None, "http://127.0.0.1:8000")


@pytest.fixture(scope="module")
def linter() -> Linter:
    return Linter()


def _trial(ca: CertificateAuthority, name: str, leaf_kind: str, signer: Any) -> bytes:
    order = IssueOrder(key(leaf_kind, 0).public_key(), not_before=NOW, not_after=NOW + timedelta(days=90),
                       serial=new_serial(), **ORDERS[name])
    cert = leaf_builder(order, ca.issuing_cert, ca.urls).sign(signer, ca.issuing_key.hash_algorithm)
    return cert.public_bytes(serialization.Encoding.DER)


def test_an_rsa_issuer_gets_a_small_trial_key_and_an_ec_issuer_one_on_its_curve() -> None:
    small = trial_key(rsa.generate_private_key(65537, 3072))
    assert isinstance(small, rsa.RSAPrivateKey) and small.key_size == TRIAL_RSA_BITS
    curve = trial_key(ec.generate_private_key(ec.SECP384R1()))
    assert isinstance(curve, ec.EllipticCurvePrivateKey) and curve.curve.name == "secp384r1"


@pytest.mark.parametrize("name", sorted(ORDERS))
@pytest.mark.parametrize("leaf_kind", ["p256", "rsa2048"])
def test_findings_match_a_full_size_trial_key(rsa_ca: CertificateAuthority, linter: Linter, name: str,
                                              leaf_kind: str) -> None:
    full_size = rsa.generate_private_key(65537, 3072)
    small = trial_key(rsa_ca.issuing_key)
    kind = LeafKind.OV if ORDERS[name].get("organization") else LeafKind.DV
    with_small = linter.lint(_trial(rsa_ca, name, leaf_kind, small), kind)
    with_full = linter.lint(_trial(rsa_ca, name, leaf_kind, full_size), kind)
    assert with_small == with_full
    if name == "internal":
        assert {f.code for f in with_small} >= {"cabf.internal_ip_address"}


def test_the_trial_names_the_issuers_signature_algorithm(rsa_ca: CertificateAuthority) -> None:
    trial = x509.load_der_x509_certificate(_trial(rsa_ca, "dv", "p256", trial_key(rsa_ca.issuing_key)))
    real = leaf_builder(IssueOrder(key("p256", 0).public_key(), not_before=NOW, not_after=NOW + timedelta(days=90),
                                   serial=new_serial(), **ORDERS["dv"]), rsa_ca.issuing_cert, rsa_ca.urls)
    issued = rsa_ca.issuing_key.sign_certificate(real)
    assert trial.signature_algorithm_oid == issued.signature_algorithm_oid
    assert trial.signature_algorithm_parameters == issued.signature_algorithm_parameters
