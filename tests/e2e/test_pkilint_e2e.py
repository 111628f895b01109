"""pkilint's own command-line linters on what a certgate deployment with public URLs publishes.

The shared server's base URL is http://127.0.0.1:PORT, an internal name pkilint rightly flags in
every CRL DP and AIA URL (certgate waives exactly that at issuance). Here a second server runs
with CERTGATE_BASE_URL=http://pki.example.com, so the CA and its leaves carry public-looking
URLs and must lint without a single ERROR or FATAL finding.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from tests.e2e.conftest import LiveServer, start_server, stop_server
from tests.e2e.pki_clients import CaFiles, KeyShop, issue, openssl
from tests.e2e.revocation_clients import fetch_crl

pytestmark = pytest.mark.e2e
PUBLIC_BASE = "http://pki.example.com"
BLOCKING = {"ERROR", "FATAL"}

# Findings below ERROR that remain, and why they are accepted:
ACCEPTED = {
    # The leaf keeps a commonName (one of its SAN values) for older clients; BR 7.1.2.7.2 allows it
    # ("NOT RECOMMENDED"), and requesters ask for it.
    "cabf.serverauth.dv.common_name_attribute_present",
    # RSA leaves carry digitalSignature + keyEncipherment (TLS 1.2 RSA key exchange); BR 7.1.2.7.11
    # allows keyEncipherment for RSA ("NOT RECOMMENDED").
    "cabf.serverauth.subscriber_rsa_digitalsignature_and_keyencipherment_present",
    # The root has no AKI: BR 7.1.2.1.3 makes it optional ("RECOMMENDED") for a self-signed root.
    "cabf.serverauth.root.authority_key_identifier_extension_absent",
    # The root's keyUsage is keyCertSign + cRLSign only: it signs no OCSP responses itself.
    "cabf.ca_certificate_no_digital_signature_bit",
}


def lint(tool: str, *args: str | Path, detected: str | None = None) -> list[tuple[str, str, str]]:
    """Run a pkilint console script with JSON output; every finding as (severity, code, where).

    With `detected`, the certificate type is detected (`-d -o`) and must be that one.
    """
    if detected:
        args = ("-d", "-o", *args)
    script = Path(sys.executable).with_name(tool)
    command = [str(script)] if script.exists() else [sys.executable, "-m", f"pkilint.bin.{tool}"]
    done = subprocess.run([*command, "lint", "-f", "JSON", *map(str, args)], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().startswith("{"), done.stdout + done.stderr  # pkilint's exit code counts findings
    if detected:
        assert done.stderr.strip() == detected
    findings = []
    for result in json.loads(done.stdout)["results"]:
        for description in result["finding_descriptions"]:
            findings.append((description["severity"], description["code"], result["node_path"]))
    return findings


def assert_clean(findings: list[tuple[str, str, str]]) -> None:
    """No ERROR or FATAL finding; any WARNING or NOTICE is one of the accepted ones."""
    assert [f for f in findings if f[0] in BLOCKING] == []
    assert {f[1] for f in findings if f[0] in {"WARNING", "NOTICE"}} <= ACCEPTED, findings


@pytest.fixture(scope="module")
def public_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_server(tmp_path_factory.mktemp("public-urls"), extra_env={"CERTGATE_BASE_URL": PUBLIC_BASE})
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def public_ca(public_server: LiveServer) -> CaFiles:
    return CaFiles.of(public_server)


def test_the_tool_is_the_cabf_serverauth_linter() -> None:
    script = Path(sys.executable).with_name("lint_cabf_serverauth_cert")
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "CA/Browser Forum TLS Baseline Requirements" in done.stdout


LEAVES = [
    ("p256", "/CN=www.example.com", "DNS:www.example.com,DNS:example.com", None),
    ("rsa2048", "/CN=rsa.example.com", None, True),
    ("p384", "/", "DNS:acme.example.com", None),  # ACME style: empty subject, critical SAN
    ("rsa3072", "/CN=93.184.216.34", "DNS:www.example.net,IP:93.184.216.34", None),  # an owned public IP
]


@pytest.mark.parametrize(("kind", "subj", "san", "client_auth"), LEAVES, ids=[leaf[0] for leaf in LEAVES])
def test_leaves_lint_clean(public_server: LiveServer, public_ca: CaFiles, key_shop: KeyShop, kind: str, subj: str,
                           san: str | None, client_auth: bool | None) -> None:
    if san and "IP:" in san:
        status, body = public_server.call("POST", "/api/v1/ranges", token=public_server.tokens["admin"],
                                          body={"cidr": "93.184.216.0/24", "owner": "e2e"})
        assert status in (201, 409), body
    issued = issue(public_server, key_shop.csr(kind, subj=subj, san=san), token=public_server.tokens["requester"],
                   client_auth=client_auth)
    dp = issued.cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value[0]
    assert dp.full_name == [x509.UniformResourceIdentifier(f"{PUBLIC_BASE}/crl")]
    sans = issued.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == (["93.184.216.34"] if san and "IP:" in san else [])
    findings = lint("lint_cabf_serverauth_cert", issued.path, detected="DV-FINAL-CERTIFICATE")
    assert_clean(findings)
    rsa = kind.startswith("rsa")
    assert ("cabf.serverauth.subscriber_rsa_digitalsignature_and_keyencipherment_present" in {f[1] for f in findings}) is rsa


def test_issuing_ca_lints_clean(public_ca: CaFiles) -> None:
    assert_clean(lint("lint_cabf_serverauth_cert", public_ca.issuing, detected="INTERNAL-UNCONSTRAINED-TLS-CA"))


def test_root_lints_clean(public_ca: CaFiles) -> None:
    assert_clean(lint("lint_cabf_serverauth_cert", public_ca.root, detected="ROOT-CA"))


def test_crls_lint_clean(public_server: LiveServer, public_ca: CaFiles, key_shop: KeyShop, tmp_path: Path) -> None:
    """The issuing CA's CRL, with a revoked entry, and the root's CRL against pkilint's BR CRL profile."""
    issued = issue(public_server, key_shop.csr("p256", subj="/CN=revoked.example.com"), token=public_server.tokens["requester"])
    status, body = public_server.call("POST", f"/api/v1/certificates/{issued.serial}/revoke", token=public_server.tokens["admin"],
                                      body={"reason": "superseded"})
    assert status == 200, body
    crl = fetch_crl(public_server, public_ca, tmp_path)
    assert crl.crl.get_revoked_certificate_by_serial_number(issued.cert.serial_number) is not None
    findings = lint("lint_crl", "-t", "CRL", "-p", "BR", crl.der)
    assert [f for f in findings if f[0] in BLOCKING | {"WARNING"}] == []
    root_crl = fetch_crl(public_server, public_ca, tmp_path, "root-crl", "/crl/root")
    findings = lint("lint_crl", "-t", "ARL", "-p", "BR", root_crl.der)
    assert [f for f in findings if f[0] in BLOCKING | {"WARNING"}] == []
    assert openssl("crl", "-inform", "DER", "-in", root_crl.der, "-noout", "-CAfile", public_ca.root).returncode == 0


def test_ocsp_response_and_responder_lint_clean(public_server: LiveServer, public_ca: CaFiles, key_shop: KeyShop,
                                                tmp_path: Path) -> None:
    issued = issue(public_server, key_shop.csr("p256", subj="/CN=ocsp-lint.example.com"), token=public_server.tokens["requester"])
    for nonce in ([], ["-no_nonce"]):
        response = tmp_path / f"response{len(nonce)}.der"
        done = openssl("ocsp", "-issuer", public_ca.issuing, "-cert", issued.path, "-url", public_server.url + "/ocsp",
                       "-CAfile", public_ca.root, "-respout", response, *nonce, check=False)
        assert done.returncode == 0 and "Response verify OK" in done.stderr, done.stdout + done.stderr
        assert [f for f in lint("lint_ocsp_response", response) if f[0] in BLOCKING | {"WARNING"}] == []
    responder = public_server.data_dir / "ocsp" / "responder.pem"
    assert_clean(lint("lint_cabf_serverauth_cert", "-t", "OCSP-RESPONDER", responder))
