"""Differential: certgate's fast linter finds exactly what pkilint's own full run finds, over 1,200 varied leaves.

The reference is built here from pkilint's public pieces alone (the serverauth validators and
finding filters, the RFC 5280 loader, pkilint's own dispatch and decoding), as
`lint_cabf_serverauth_cert` runs them, without any of certgate's shortcuts. The leaves cover
every key type, CAs of two key types and two URL sets, DNS and IP mixes (public, reserved,
internal names), client auth, OV subjects, validity lengths from a day to past the BR limit,
and deliberately broken profiles (extensions missing, duplicated, undecodable or foreign).

Some leaves are made to fool a linter that replays the findings of parts it saw before
(`service.ca.lint_replay`): the key usage of the other key family in its usual place (the same
bytes at the same path as other leaves', with a key it does not fit), basicConstraints cA=TRUE in
its usual place (every other extension as in a good leaf), the extensions in reverse order, and
leaves linted as the other certificate type (DV validators on an OV leaf and back).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID
from pkilint import finding_filter, loader
from pkilint.cabf import serverauth
from pkilint.cabf.serverauth.serverauth_constants import CertificateType
from pkilint.pkix import certificate as pkix_certificate

from service.ca.authority import CertificateAuthority, init_ca, new_serial, trial_key
from service.ca.keystore import CaKeyType, signature_hash
from service.ca.lint import LeafKind, Linter
from service.ca.profile import IssueOrder, leaf_builder

LEAVES = 1200
NOW = datetime.now(UTC)
KEY_KINDS = ("p256", "p384", "p521", "rsa2048", "rsa3072", "rsa4096", "ed25519")
_TYPES = {LeafKind.DV: CertificateType.DV_FINAL_CERTIFICATE, LeafKind.OV: CertificateType.OV_FINAL_CERTIFICATE}
Finding = tuple[str, str, str, str]


class _Pkilint:
    """pkilint's own full run for one certificate type (what `lint_cabf_serverauth_cert` does)."""

    def __init__(self, cert_type: CertificateType) -> None:
        self.validator = pkix_certificate.create_pkix_certificate_validator_container(
            serverauth.create_decoding_validators(), serverauth.create_validators(cert_type))
        self.filters = serverauth.create_serverauth_finding_filters(cert_type)

    def findings(self, der: bytes) -> list[Finding]:
        try:
            document = loader.RFC5280CertificateDocumentLoader().load_der_document(der, "certificate")
        except ValueError as exc:
            return [("certgate.undecodable_certificate", "FATAL", str(exc), "certificate")]
        results, _ = finding_filter.filter_results(self.filters, self.validator.validate(document.root))
        return [(d.finding.code, d.finding.severity.name, d.message or "", r.node.path)
                for r in results for d in r.finding_descriptions]


def _key(kind: str, rng: random.Random, pool: dict[str, list[Any]]) -> Any:
    keys = pool.setdefault(kind, [])
    if len(keys) < (2 if kind.startswith("rsa") else 6):
        if kind.startswith("rsa"):
            keys.append(rsa.generate_private_key(65537, int(kind[3:])))
        elif kind == "ed25519":
            keys.append(ed25519.Ed25519PrivateKey.generate())
        else:
            keys.append(ec.generate_private_key({"p256": ec.SECP256R1(), "p384": ec.SECP384R1(),
                                                 "p521": ec.SECP521R1()}[kind]))
        return keys[-1]
    return rng.choice(keys)


def _names(rng: random.Random, index: int) -> dict[str, Any]:
    dns_pool = [f"h{index}.example.com", f"www{index}.example.org", f"a.b{index}.example.net", "localhost",
                f"x{index}.internal", f"{'l' * 64}.example.com", "*.example.com", f"h{index}.example.com."]
    ip_pool = [f"5.6.7.{index % 250 + 1}", f"2001:db8::{index % 9000:x}", "10.1.2.3", "192.0.2.7",
               f"2a00:1450:4001::{index % 9000:x}", "127.0.0.1", "fd00::1", f"203.0.{index % 250}.9"]
    dns = tuple(dict.fromkeys(rng.sample(dns_pool[:3], rng.randint(0, 3))
                              + (rng.sample(dns_pool[3:], 1) if rng.random() < 0.15 else [])))
    ips = tuple(dict.fromkeys(rng.sample(ip_pool[:1] + ip_pool[4:5] + ip_pool[7:], rng.randint(0, 2))
                              + (rng.sample(ip_pool[1:4] + ip_pool[5:7], 1) if rng.random() < 0.15 else [])))
    if not dns and not ips:
        dns = (f"h{index}.example.com",)
    cn_choice = rng.random()
    common_name = None if cn_choice < 0.4 else (dns[0] if dns else ips[0]) if cn_choice < 0.9 else f"other{index}.example.com"
    if common_name is not None and len(common_name) > 64:
        common_name = None  # longer than a commonName may be (cryptography refuses it)
    return {"common_name": common_name, "dns_names": dns, "ip_addresses": ips}


def _broken(cert: x509.Certificate, rng: random.Random, sign: Callable[[x509.CertificateBuilder], x509.Certificate]
            ) -> x509.Certificate:
    """The same leaf with one deliberate profile fault."""
    fault = rng.choice(["drop-aia", "drop-eku", "drop-crldp", "drop-ku", "drop-bc", "drop-policies", "bad-ku",
                        "ldap-crl", "ca-true", "extra-ski", "critical-san", "code-signing",
                        "ku-of-other-key", "ca-true-in-place", "reversed", "reversed"])
    drop = {"drop-aia": ExtensionOID.AUTHORITY_INFORMATION_ACCESS, "drop-eku": ExtensionOID.EXTENDED_KEY_USAGE,
            "drop-crldp": ExtensionOID.CRL_DISTRIBUTION_POINTS, "drop-ku": ExtensionOID.KEY_USAGE,
            "drop-bc": ExtensionOID.BASIC_CONSTRAINTS, "drop-policies": ExtensionOID.CERTIFICATE_POLICIES,
            "bad-ku": ExtensionOID.KEY_USAGE, "ldap-crl": ExtensionOID.CRL_DISTRIBUTION_POINTS,
            "ca-true": ExtensionOID.BASIC_CONSTRAINTS, "critical-san": ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
            "code-signing": ExtensionOID.EXTENDED_KEY_USAGE}.get(fault)
    is_rsa = isinstance(cert.public_key(), rsa.RSAPublicKey)
    in_place: dict[str, tuple[x509.ObjectIdentifier, x509.ExtensionType]] = {
        "ku-of-other-key": (ExtensionOID.KEY_USAGE, x509.KeyUsage(True, False, not is_rsa, False, False, False, False,
                                                                  False, False)),
        "ca-true-in-place": (ExtensionOID.BASIC_CONSTRAINTS, x509.BasicConstraints(ca=True, path_length=None))}
    builder = x509.CertificateBuilder(cert.issuer, cert.subject, cert.public_key(), cert.serial_number,
                                      cert.not_valid_before_utc, cert.not_valid_after_utc)
    extensions = list(cert.extensions)
    if fault == "reversed":
        extensions.reverse()
    for ext in extensions:
        if fault in in_place and ext.oid == in_place[fault][0]:
            builder = builder.add_extension(in_place[fault][1], ext.critical)
        elif ext.oid != drop:
            builder = builder.add_extension(ext.value, ext.critical)
    if fault == "bad-ku":
        builder = builder.add_extension(x509.UnrecognizedExtension(ExtensionOID.KEY_USAGE, b"\x05\x00"), critical=True)
    elif fault == "ldap-crl":
        builder = builder.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
            [x509.UniformResourceIdentifier("ldap://ldap.example.com/cn=crl")], None, None, None)]), critical=False)
    elif fault == "ca-true":
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    elif fault == "extra-ski":
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(cert.public_key()), critical=False)
    elif fault == "critical-san":
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        builder = builder.add_extension(san, critical=True)
    elif fault == "code-signing":
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                               ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
    return sign(builder)


@pytest.fixture(scope="module")
def leaves(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, bytes]]:
    """(kind, DER) for LEAVES leaves, from four CAs, signed by each CA's trial key as the issuer's lint sees them."""
    home = tmp_path_factory.mktemp("lintdiff")
    rng = random.Random(17)
    cas = []
    for index, (key_type, base_url) in enumerate([(CaKeyType.P256, "http://127.0.0.1:8000"),
                                                  (CaKeyType.P256, "https://ca.example.net"),
                                                  (CaKeyType.RSA3072, "https://pki.example.com/certgate"),
                                                  (CaKeyType.P384, "http://[2001:db8::1]:8443")]):
        init_ca(home / str(index), key_type, None, NOW, base_url)
        cas.append(CertificateAuthority.load(home / str(index), None, base_url))
    throwaways = [trial_key(load_issuing_key(home / str(i))) for i in range(len(cas))]
    keys: dict[str, list[Any]] = {}
    out = []
    for index in range(LEAVES):
        which = rng.randrange(len(cas))
        ca, throwaway = cas[which], throwaways[which]
        ov = rng.random() < 0.2
        days = rng.choice([1, 7, 47, 90, 90, 90, 100, 199, 200, 397, 398, 399, 825])
        order = IssueOrder(_key(rng.choice(KEY_KINDS), rng, keys).public_key(), not_before=NOW,
                           not_after=NOW + timedelta(days=days) - timedelta(seconds=rng.choice([0, 1])),
                           serial=new_serial(), client_auth=rng.random() < 0.25,
                           **({"organization": "Example Org", "country": "US", "locality": "Springfield",
                               "state_or_province": rng.choice(["", "IL"])} if ov else {}),
                           **_names(rng, index))

        def sign(builder: x509.CertificateBuilder, throwaway: Any = throwaway) -> x509.Certificate:
            return builder.sign(throwaway, signature_hash(throwaway))

        cert = sign(leaf_builder(order, ca.issuing_cert, ca.urls))
        if rng.random() < 0.12:
            cert = _broken(cert, rng, sign)
        if rng.random() < 0.03:
            ov = not ov  # linted as the other certificate type: the same part bytes before other validators
        out.append((LeafKind.OV if ov else LeafKind.DV, cert.public_bytes(serialization.Encoding.DER)))
    return out


def load_issuing_key(home: Path) -> Any:
    """The issuing CA's key from its data dir (unencrypted in these tests)."""
    from service.ca.keystore import load_private_key

    return load_private_key(home / "issuing.key.pem", None)


def test_fast_linter_finds_exactly_what_pkilint_finds(leaves: list[tuple[str, bytes]]) -> None:
    reference = {kind: _Pkilint(cert_type) for kind, cert_type in _TYPES.items()}
    fast = Linter()
    codes: set[str] = set()
    for index, (kind, der) in enumerate(leaves):
        expected = reference[LeafKind(kind)].findings(der)
        got = [(f.code, str(f.severity), f.message, f.node_path) for f in fast.lint(der, LeafKind(kind))]
        assert got == expected, f"leaf {index}"
        codes.update(code for code, *_ in expected)
    # The leaves reached the linter's corners: the broken profiles and odd names were seen.
    # The fooling leaves were seen too: the key usage part as in good leaves but with a key (or a
    # cA flag elsewhere) it does not fit.
    for code in ("cabf.internal_ip_address", "cabf.internal_domain_name", "itu.invalid_asn1_syntax",
                 "pkix.ldap_uri_not_validated", "pkix.key_usage_value_prohibited_for_ec",
                 "pkix.ca_certificate_keycertsign_keyusage_not_set"):
        assert code in codes, code
    assert len(codes) >= 25
    assert fast.memo is not None and fast.memo.hits > LEAVES  # the shortcuts were taken, not bypassed
    assert fast.replay is not None and fast.replay.replayed > 5 * LEAVES and fast.replay.templates_kept > 20

