"""Issuance through the real server: openssl-made CSRs of every allowed key type, the exact leaf profile."""

from __future__ import annotations

import hashlib
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, ExtensionOID, NameOID

from tests.e2e.conftest import LiveServer
from tests.e2e.pki_clients import CaFiles, Form, KeyShop, http_get, issue, issued_from, openssl, submit, verify
from tests.factories import KEY_TYPES

pytestmark = pytest.mark.e2e

PROFILE_EXTENSIONS = {
    ExtensionOID.SUBJECT_ALTERNATIVE_NAME, ExtensionOID.KEY_USAGE, ExtensionOID.EXTENDED_KEY_USAGE,
    ExtensionOID.BASIC_CONSTRAINTS, ExtensionOID.AUTHORITY_KEY_IDENTIFIER, ExtensionOID.CERTIFICATE_POLICIES,
    ExtensionOID.CRL_DISTRIBUTION_POINTS, ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
}
DV_POLICY = x509.ObjectIdentifier("2.23.140.1.2.1")


def assert_tls_leaf(cert: x509.Certificate, *, issuing: x509.Certificate, base: str, cn: str, san: list[x509.GeneralName],
                    client_auth: bool) -> None:
    """The leaf carries exactly certgate's subscriber profile (BR 7.1.2.7), whatever the CSR asked for."""
    ext = cert.extensions
    assert cert.version is x509.Version.v3
    assert {e.oid for e in ext} == PROFILE_EXTENSIONS, [e.oid._name for e in ext]
    assert len(list(ext)) == len(PROFILE_EXTENSIONS)  # no duplicates
    assert cert.subject == x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    assert cert.issuer == issuing.subject

    is_rsa = isinstance(cert.public_key(), rsa.RSAPublicKey)
    ku = ext.get_extension_for_class(x509.KeyUsage)
    assert ku.critical
    assert ku.value.digital_signature and ku.value.key_encipherment is is_rsa
    assert not (ku.value.content_commitment or ku.value.data_encipherment or ku.value.key_agreement
                or ku.value.key_cert_sign or ku.value.crl_sign)

    eku = ext.get_extension_for_class(x509.ExtendedKeyUsage)
    expected_eku = [ExtendedKeyUsageOID.SERVER_AUTH] + ([ExtendedKeyUsageOID.CLIENT_AUTH] if client_auth else [])
    assert not eku.critical and list(eku.value) == expected_eku

    bc = ext.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca is False and bc.value.path_length is None

    aki = ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    issuing_ski = issuing.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert aki.key_identifier == issuing_ski
    assert aki.authority_cert_issuer is None and aki.authority_cert_serial_number is None

    policies = ext.get_extension_for_class(x509.CertificatePolicies).value
    assert [(p.policy_identifier, p.policy_qualifiers) for p in policies] == [(DV_POLICY, None)]

    dps = ext.get_extension_for_class(x509.CRLDistributionPoints).value
    assert [(d.full_name, d.relative_name, d.reasons, d.crl_issuer) for d in dps] == [
        ([x509.UniformResourceIdentifier(f"{base}/crl")], None, None, None)]

    aia = ext.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert [(a.access_method, a.access_location) for a in aia] == [
        (AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(f"{base}/ocsp")),
        (AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(f"{base}/ca/issuing.cer")),
    ]

    sans = ext.get_extension_for_class(x509.SubjectAlternativeName)
    assert not sans.critical and list(sans.value) == san

    assert 2**64 <= cert.serial_number < 2**127  # 127 random bits, positive, 16 octets
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(days=90) - timedelta(seconds=1)


def openssl_text(leaf: Path) -> str:
    """What `openssl x509 -text` shows a person looking at the leaf."""
    return openssl("x509", "-in", leaf, "-noout", "-text").stdout


FORMS: list[tuple[Form, bool | None]] = [("pem", None), ("json", True)]


@pytest.mark.parametrize("kind", KEY_TYPES)
@pytest.mark.parametrize(("form", "client_auth"), FORMS, ids=["raw-pkcs10", "json-client-auth"])
def test_every_key_type_is_issued_with_the_exact_profile(live_server: LiveServer, ca_files: CaFiles, key_shop: KeyShop,
                                                         kind: str, form: Form, client_auth: bool | None) -> None:
    cn = f"cn-{kind}.example.com"
    csr = key_shop.csr(kind, subj=f"/CN={cn}", san="DNS:www.example.com,DNS:api.example.com")
    issued = issue(live_server, csr, token=live_server.tokens["requester"], form=form, client_auth=client_auth)

    check = verify(ca_files, issued.path)
    assert check.returncode == 0 and check.stdout.strip() == f"{issued.path}: OK", check.stdout + check.stderr
    assert_tls_leaf(issued.cert, issuing=ca_files.issuing_cert(), base=live_server.url, cn=cn, client_auth=bool(client_auth),
                    san=[x509.DNSName("www.example.com"), x509.DNSName("api.example.com"), x509.DNSName(cn)])
    # openssl's own purpose checks read the EKU the same way a TLS stack does.
    assert verify(ca_files, issued.path, "-purpose", "sslserver").returncode == 0
    assert (verify(ca_files, issued.path, "-purpose", "sslclient").returncode == 0) is bool(client_auth)
    text = openssl_text(issued.path)
    assert "CA:FALSE" in text and "Subject Key Identifier" not in text
    assert ("Key Encipherment" in text) is kind.startswith("rsa")
    assert issued.answer["certificate"]["chain_pem"] == ca_files.chain.read_text()


def test_json_without_client_auth_gives_server_auth_only(live_server: LiveServer, ca_files: CaFiles, key_shop: KeyShop) -> None:
    issued = issue(live_server, key_shop.csr("p256", subj="/CN=plain.example.com"), token=live_server.tokens["requester"])
    eku = issued.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert verify(ca_files, issued.path, "-purpose", "sslclient").returncode != 0


def test_raw_der_csr_is_issued(live_server: LiveServer, ca_files: CaFiles, key_shop: KeyShop) -> None:
    issued = issue(live_server, key_shop.csr("p384", subj="/CN=der.example.com"), token=live_server.tokens["requester"], form="der")
    assert verify(ca_files, issued.path).returncode == 0
    assert issued.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName) == ["der.example.com"]


def test_empty_subject_with_san_only_is_issued(live_server: LiveServer, ca_files: CaFiles, key_shop: KeyShop) -> None:
    """ACME clients send CSRs with an empty subject; the SAN then is critical (RFC 5280 4.2.1.6)."""
    issued = issue(live_server, key_shop.csr("p256", subj="/", san="DNS:acme.example.com"), token=live_server.tokens["requester"])
    assert verify(ca_files, issued.path).returncode == 0
    assert len(issued.cert.subject) == 0
    san = issued.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical and san.value.get_values_for_type(x509.DNSName) == ["acme.example.com"]


def test_csr_asking_for_a_ca_gets_a_plain_leaf(live_server: LiveServer, ca_files: CaFiles, key_shop: KeyShop, tmp_path: Path) -> None:
    csr = key_shop.csr("p256", subj="/CN=sneaky.example.com", addext=(
        "basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        "extendedKeyUsage=codeSigning,emailProtection", "nameConstraints=critical,permitted;DNS:example.com",
        "tlsfeature=status_request", "1.3.6.1.4.1.99999.1=ASN1:UTF8String:copy me"))
    assert "CA:TRUE" in openssl("req", "-in", csr, "-noout", "-text").stdout  # the request really asks for it
    issued = issue(live_server, csr, token=live_server.tokens["requester"], form="pem")

    assert_tls_leaf(issued.cert, issuing=ca_files.issuing_cert(), base=live_server.url, cn="sneaky.example.com",
                    san=[x509.DNSName("sneaky.example.com")], client_auth=False)
    text = openssl_text(issued.path)
    assert "CA:FALSE" in text and "CA:TRUE" not in text and "Certificate Sign" not in text

    # A relying party refuses anything the leaf signs as a CA.
    child_csr = key_shop.csr("p384", subj="/CN=child.example.com")
    child = tmp_path / "child.pem"
    openssl("x509", "-req", "-in", child_csr, "-CA", issued.path, "-CAkey", key_shop.key("p256"), "-CAcreateserial",
            "-CAserial", tmp_path / "serial", "-days", "1", "-out", child)
    bundle = tmp_path / "untrusted.pem"
    bundle.write_text(ca_files.issuing.read_text() + issued.path.read_text())
    refused = openssl("verify", "-CAfile", ca_files.root, "-untrusted", bundle, child, check=False)
    assert refused.returncode != 0 and "invalid CA certificate" in refused.stdout + refused.stderr


def test_published_urls_serve_what_the_leaf_points_to(live_server: LiveServer, ca_files: CaFiles, key_shop: KeyShop, tmp_path: Path) -> None:
    """A relying party follows the leaf's AIA caIssuers and CRL DP and gets the issuing CA and its CRL."""
    issued = issue(live_server, key_shop.csr("p256", subj="/CN=aia.example.com"), token=live_server.tokens["requester"])
    aia = issued.cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    ca_url = next(a.access_location.value for a in aia if a.access_method == AuthorityInformationAccessOID.CA_ISSUERS)
    status, ctype, der = http_get(ca_url)
    assert status == 200 and ctype == "application/pkix-cert"
    assert x509.load_der_x509_certificate(der) == ca_files.issuing_cert()

    dp = issued.cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value[0].full_name[0].value
    status, ctype, crl_der = http_get(dp)
    assert status == 200 and ctype == "application/pkix-crl"
    (tmp_path / "crl.der").write_bytes(crl_der)
    checked = openssl("crl", "-inform", "DER", "-in", tmp_path / "crl.der", "-CAfile", ca_files.chain, "-noout")
    assert "verify OK" in checked.stderr + checked.stdout

    # The issuing CA's own caIssuers and CRL DP lead to the root and the root's CRL.
    issuing = ca_files.issuing_cert()
    root_url = issuing.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value[0].access_location.value
    assert x509.load_der_x509_certificate(http_get(root_url)[2]).subject == issuing.issuer
    root_crl_url = issuing.extensions.get_extension_for_class(x509.CRLDistributionPoints).value[0].full_name[0].value
    (tmp_path / "root-crl.der").write_bytes(http_get(root_crl_url)[2])
    checked = openssl("crl", "-inform", "DER", "-in", tmp_path / "root-crl.der", "-CAfile", ca_files.root, "-noout")
    assert "verify OK" in checked.stderr + checked.stdout


def test_inventory_serves_the_pem_chain(live_server: LiveServer, ca_files: CaFiles, key_shop: KeyShop, tmp_path: Path) -> None:
    issued = issue(live_server, key_shop.csr("rsa2048", subj="/CN=chain.example.com"), token=live_server.tokens["requester"])
    req = urllib.request.Request(f"{live_server.url}/api/v1/certificates/{issued.serial}", headers={
        "Authorization": f"Bearer {live_server.tokens['auditor']}", "Accept": "application/pem-certificate-chain"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        assert resp.headers["Content-Type"].startswith("application/pem-certificate-chain")
        chain = tmp_path / "full-chain.pem"
        chain.write_bytes(resp.read())
    certs = x509.load_pem_x509_certificates(chain.read_bytes())
    assert [c.subject for c in certs] == [issued.cert.subject, ca_files.issuing_cert().subject,
                                          x509.load_pem_x509_certificate(ca_files.root.read_bytes()).subject]
    # openssl verifies the first certificate of the file, with the rest as untrusted helpers.
    done = openssl("verify", "-CAfile", ca_files.root, "-untrusted", chain, chain, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_request_answer_matches_the_certificate(live_server: LiveServer, key_shop: KeyShop) -> None:
    status, answer = submit(live_server, key_shop.csr("p521", subj="/CN=answer.example.com"), token=live_server.tokens["requester"])
    assert status == 201
    issued = issued_from(answer, key_shop.key("p521").with_suffix(".answer.pem"))
    der = issued.cert.public_bytes(Encoding.DER)
    assert answer["certificate"]["sha256_fingerprint"].replace(":", "").lower() == hashlib.sha256(der).hexdigest()
    again = live_server.call("GET", f"/api/v1/requests/{answer['id']}", token=live_server.tokens["requester"])
    assert again[0] == 200 and again[1]["certificate"]["serial_number"] == issued.serial
