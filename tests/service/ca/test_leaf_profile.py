"""The leaf builder's shortcuts (cached extensions, the constructor instead of `add_extension`)
write the same to-be-signed bytes as the BR profile spelled out through the builder's API."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from service.ca.authority import CertificateAuthority, init_ca, new_serial
from service.ca.keystore import CaKeyType
from service.ca.profile import DOMAIN_VALIDATED, ORGANIZATION_VALIDATED, IssueOrder, Urls, leaf_builder, leaf_names
from tests.factories import key

NOW = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)

ORDERS: dict[str, dict[str, Any]] = {
    "dv": {"common_name": "www.example.com", "dns_names": ("www.example.com", "b.example.com"), "ip_addresses": ()},
    "ov": {"common_name": "ov.example.com", "dns_names": ("ov.example.com",), "ip_addresses": ("5.6.7.8",),
           "organization": "Example Org", "country": "DE", "state_or_province": "Berlin", "locality": "Berlin"},
    "ip-literal-names": {"common_name": "10.0.0.5", "dns_names": ("10.0.0.5", "2001:db8::1", "1.example.com"),
                         "ip_addresses": ("10.0.0.5", "2001:db8::2")},
    "no-subject": {"common_name": None, "dns_names": ("a.example.com",), "ip_addresses": ("192.0.2.1",)},
    "client": {"common_name": "c.example.com", "dns_names": (), "ip_addresses": (), "client_auth": True},
    "digits-and-dots": {"common_name": "1.2.3.4.5", "dns_names": ("123.example.com", "999"), "ip_addresses": ()},
}


@pytest.fixture(scope="module", params=["p256", "rsa3072"])
def ca(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    home: Path = tmp_path_factory.mktemp(f"ca-{request.param}")
    init_ca(home, CaKeyType(request.param), None, NOW, "http://127.0.0.1:8000")
    return CertificateAuthority.load(home, None, "http://127.0.0.1:8000")


def _spelled_out(order: IssueOrder, issuer: x509.Certificate, urls: Urls) -> x509.CertificateBuilder:
    """BR 7.1.2.7 through the builder's own API, one `add_extension` per extension."""
    subject, san = leaf_names(order)
    is_rsa = isinstance(order.public_key, rsa.RSAPublicKey)
    usages = [ExtendedKeyUsageOID.SERVER_AUTH] + ([ExtendedKeyUsageOID.CLIENT_AUTH] if order.client_auth else [])
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder().subject_name(subject).issuer_name(issuer.subject).public_key(order.public_key)
        .serial_number(order.serial).not_valid_before(order.not_before).not_valid_after(order.not_after)
        .add_extension(x509.SubjectAlternativeName(san), critical=len(subject) == 0)
        .add_extension(x509.KeyUsage(True, False, is_rsa, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .add_extension(x509.CertificatePolicies([x509.PolicyInformation(
            ORGANIZATION_VALIDATED if order.organization else DOMAIN_VALIDATED, None)]), critical=False)
        .add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
            [x509.UniformResourceIdentifier(urls.crl)], None, None, None)]), critical=False)
        .add_extension(x509.AuthorityInformationAccess([
            x509.AccessDescription(AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(urls.ocsp)),
            x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS,
                                   x509.UniformResourceIdentifier(urls.issuing_cert))]), critical=False)
    )


@pytest.mark.parametrize("name", sorted(ORDERS))
@pytest.mark.parametrize("leaf_kind", ["p256", "rsa2048", "ed25519"])
def test_the_leaf_is_the_profile_byte_for_byte(ca: CertificateAuthority, name: str, leaf_kind: str) -> None:
    order = IssueOrder(key(leaf_kind, 0).public_key(), not_before=NOW, not_after=NOW + timedelta(days=90),
                       serial=new_serial(), **ORDERS[name])
    signer = key("p256", 1)
    ours = leaf_builder(order, ca.issuing_cert, ca.urls).sign(signer, ca.issuing_key.hash_algorithm)
    twice = leaf_builder(order, ca.issuing_cert, ca.urls).sign(signer, ca.issuing_key.hash_algorithm)  # cached
    reference = _spelled_out(order, ca.issuing_cert, ca.urls).sign(signer, ca.issuing_key.hash_algorithm)
    assert ours.tbs_certificate_bytes == reference.tbs_certificate_bytes == twice.tbs_certificate_bytes
    assert ours.subject.get_attributes_for_oid(NameOID.COMMON_NAME) == reference.subject.get_attributes_for_oid(
        NameOID.COMMON_NAME)


def test_ip_literals_among_names_become_ip_entries_and_other_names_stay_dns() -> None:
    order = IssueOrder(key("p256", 0).public_key(), not_before=NOW, not_after=NOW + timedelta(days=1), serial=1,
                       **ORDERS["digits-and-dots"])
    _, san = leaf_names(order)
    assert san == [x509.DNSName("123.example.com"), x509.DNSName("999"), x509.DNSName("1.2.3.4.5")]
    order = IssueOrder(key("p256", 0).public_key(), not_before=NOW, not_after=NOW + timedelta(days=1), serial=1,
                       **ORDERS["ip-literal-names"])
    _, san = leaf_names(order)
    assert san == [x509.IPAddress(ipaddress.ip_address("10.0.0.5")), x509.IPAddress(ipaddress.ip_address("2001:db8::1")),
                   x509.DNSName("1.example.com"), x509.IPAddress(ipaddress.ip_address("2001:db8::2"))]
