"""Certificate profiles: root, issuing CA and TLS leaf, per the CA/Browser Forum Baseline Requirements.

Every extension is chosen here from validated data; nothing is ever copied from a CSR.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, ExtensionOID, NameOID, ObjectIdentifier

DOMAIN_VALIDATED = ObjectIdentifier("2.23.140.1.2.1")
ORGANIZATION_VALIDATED = ObjectIdentifier("2.23.140.1.2.2")


@dataclass(frozen=True)
class Urls:
    """Where relying parties find the CRLs, the OCSP responder and the CA certificates.

    `generation` is the issuing CA's (`certgate ca rollover`): generation 1 keeps the URLs its
    certificates have always carried (`/crl`, `/ca/issuing.cer`), later ones get their own.
    """

    base: str
    generation: int = 1

    @property
    def crl(self) -> str:
        return f"{self.base}/crl" if self.generation == 1 else f"{self.base}/crl/{self.generation}"

    @property
    def root_crl(self) -> str:
        return f"{self.base}/crl/root"

    @property
    def ocsp(self) -> str:
        return f"{self.base}/ocsp"

    @property
    def issuing_cert(self) -> str:
        return f"{self.base}/ca/issuing.cer" if self.generation == 1 else f"{self.base}/ca/issuing/{self.generation}.cer"

    @property
    def root_cert(self) -> str:
        return f"{self.base}/ca/root.cer"


@dataclass(frozen=True)
class IssueOrder:
    """Everything a leaf is built from: validated names, the key, the dates and the serial."""

    public_key: CertificatePublicKeyTypes
    common_name: str | None
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    serial: int
    client_auth: bool = False
    organization: str = ""
    country: str = ""
    state_or_province: str = ""
    locality: str = ""


def ca_name(common_name: str, organization: str, country: str) -> x509.Name:
    """A CA subject: countryName, organizationName, commonName (BR 7.1.4.3)."""
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, country),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def _ip_literal(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if ":" not in text and not text.replace(".", "").isdigit():
        return None  # neither IPv6 (needs a colon) nor dotted-decimal IPv4: skip the costly parse
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def leaf_names(order: IssueOrder) -> tuple[x509.Name, list[x509.GeneralName]]:
    """The subject and subjectAltName entries: the CN is added to the SAN when missing."""
    san: list[x509.GeneralName] = []
    seen: set[str] = set()
    for name in order.dns_names:
        literal = _ip_literal(name)
        entry: x509.GeneralName = x509.IPAddress(literal) if literal is not None else x509.DNSName(name)
        key = str(literal) if literal is not None else name
        if key not in seen:
            seen.add(key)
            san.append(entry)
    for ip in order.ip_addresses:
        literal = ipaddress.ip_address(ip)
        if str(literal) not in seen:
            seen.add(str(literal))
            san.append(x509.IPAddress(literal))
    attributes = []
    if order.country:
        attributes.append(x509.NameAttribute(NameOID.COUNTRY_NAME, order.country))
    if order.state_or_province:
        attributes.append(x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, order.state_or_province))
    if order.locality:
        attributes.append(x509.NameAttribute(NameOID.LOCALITY_NAME, order.locality))
    if order.organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, order.organization))
    if order.common_name:
        cn = order.common_name
        literal = _ip_literal(cn)
        key = str(literal) if literal is not None else cn
        if key not in seen:
            seen.add(key)
            san.append(x509.IPAddress(literal) if literal is not None else x509.DNSName(cn))
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attributes), san


def leaf_builder(
    order: IssueOrder, issuer: x509.Certificate, urls: Urls, names: tuple[x509.Name, list[x509.GeneralName]] | None = None
) -> x509.CertificateBuilder:
    """A TLS server (optionally also client) leaf: BR 7.1.2.7 subscriber certificate profile.

    `names` is `leaf_names(order)` when the caller computed it already.
    """
    subject, san = names if names is not None else leaf_names(order)
    policy = ORGANIZATION_VALIDATED if order.organization else DOMAIN_VALIDATED
    fixed = _leaf_extensions(issuer, urls, isinstance(order.public_key, rsa.RSAPublicKey), order.client_auth, policy)
    alt_names = x509.Extension(ExtensionOID.SUBJECT_ALTERNATIVE_NAME, len(subject) == 0, x509.SubjectAlternativeName(san))
    # The extensions go in through the constructor, the fields through the builder's checking setters:
    # `add_extension` re-checks every extension for duplicates each time (8 per leaf, on the hot path).
    return (
        x509.CertificateBuilder(extensions=[alt_names, *fixed])
        .subject_name(subject)
        .issuer_name(issuer.subject)
        .public_key(order.public_key)
        .serial_number(order.serial)
        .not_valid_before(order.not_before)
        .not_valid_after(order.not_after)
    )


@functools.lru_cache(maxsize=64)
def _leaf_extensions(issuer: x509.Certificate, urls: Urls, is_rsa: bool, client_auth: bool,
                     policy: ObjectIdentifier) -> tuple[x509.Extension[x509.ExtensionType], ...]:
    """A leaf's extensions after its subjectAltName, in order: the same for every leaf of a kind."""
    usages = [ExtendedKeyUsageOID.SERVER_AUTH] + ([ExtendedKeyUsageOID.CLIENT_AUTH] if client_auth else [])
    values: list[tuple[x509.ExtensionType, bool]] = [
        (x509.KeyUsage(True, False, is_rsa, False, False, False, False, False, False), True),
        (x509.ExtendedKeyUsage(usages), False),
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (authority_key_identifier(issuer), False),
        (x509.CertificatePolicies([x509.PolicyInformation(policy, None)]), False),
        (_crl_dp(urls.crl), False),
        (_aia(urls.ocsp, urls.issuing_cert), False),
    ]
    return tuple(x509.Extension(value.oid, critical, value) for value, critical in values)


def root_builder(public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey, name: x509.Name, serial: int,
                 not_before: datetime, not_after: datetime) -> x509.CertificateBuilder:
    """A self-signed root: BR 7.1.2.1 (no EKU, no policies, no AKI)."""
    return (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(public_key)
        .serial_number(serial).not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def issuing_builder(public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey, name: x509.Name, root: x509.Certificate,
                    serial: int, not_before: datetime, not_after: datetime, urls: Urls) -> x509.CertificateBuilder:
    """A TLS issuing CA: BR 7.1.2.6 (TLS subordinate, path length 0, serverAuth/clientAuth EKU)."""
    return (
        x509.CertificateBuilder().subject_name(name).issuer_name(root.subject).public_key(public_key)
        .serial_number(serial).not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(authority_key_identifier(root), critical=False)
        .add_extension(x509.CertificatePolicies([x509.PolicyInformation(DOMAIN_VALIDATED, None)]), critical=False)
        .add_extension(_crl_dp(urls.root_crl), critical=False)
        .add_extension(x509.AuthorityInformationAccess([
            x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(urls.root_cert))]),
            critical=False)
    )


def authority_key_identifier(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    """The AKI naming `issuer`: its own SKI, so chain builders match the two byte for byte."""
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _crl_dp(url: str) -> x509.CRLDistributionPoints:
    return x509.CRLDistributionPoints([x509.DistributionPoint([x509.UniformResourceIdentifier(url)], None, None, None)])


def _aia(ocsp_url: str, ca_url: str) -> x509.AuthorityInformationAccess:
    return x509.AuthorityInformationAccess([
        x509.AccessDescription(AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url)),
        x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(ca_url)),
    ])
