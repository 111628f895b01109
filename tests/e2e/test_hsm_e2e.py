"""`certgate init --hsm`, then `certgate serve` (gunicorn, forked workers) signing everything in SoftHSM2.

Real clients check what the token signed: `openssl verify` for leaves, `openssl crl` for the
CRLs, `openssl ocsp` for answers signed by the responder key in the token, and pkilint for all.
The CA URLs are public-looking so pkilint judges the profile, not the test's 127.0.0.1.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from service.ca.hsm import TokenConfig
from tests.e2e.conftest import LiveServer, start_server, stop_server
from tests.e2e.pki_clients import CaFiles, KeyShop, issue, openssl, verify
from tests.e2e.revocation_clients import ask_ocsp, fetch_crl
from tests.e2e.test_pkilint_e2e import BLOCKING, PUBLIC_BASE, assert_clean, lint
from tests.softhsm import SoftHsm, unique_prefix

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def hsm_config(softhsm: SoftHsm) -> TokenConfig:
    return softhsm.config(unique_prefix(), ocsp=True)


@pytest.fixture(scope="module")
def hsm_server(tmp_path_factory: pytest.TempPathFactory, softhsm: SoftHsm,
               hsm_config: TokenConfig) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("hsm-server")
    env = {"CERTGATE_DATA_DIR": str(tmp / "data"), "CERTGATE_BASE_URL": PUBLIC_BASE, **softhsm.env(hsm_config)}
    init = subprocess.run([sys.executable, "-m", "service.cli", "init", "--hsm"], text=True, capture_output=True,
                          env={**os.environ, **env}, timeout=120)
    assert init.returncode == 0, init.stderr
    server = start_server(tmp, extra_env={**softhsm.env(hsm_config), "CERTGATE_BASE_URL": PUBLIC_BASE},
                          token_keys=("requester", "admin"))
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def hsm_ca(hsm_server: LiveServer) -> CaFiles:
    return CaFiles.of(hsm_server)


def test_no_private_key_file_exists(hsm_server: LiveServer) -> None:
    assert sorted(p.name for p in hsm_server.data_dir.rglob("*.key.pem")) == []
    assert (hsm_server.data_dir / "audit" / "log-key.pem").exists()  # the audit-log key is not a CA key


def test_leaves_from_every_worker_verify_and_lint_clean(hsm_server: LiveServer, hsm_ca: CaFiles,
                                                        key_shop: KeyShop) -> None:
    assert openssl("verify", "-CAfile", hsm_ca.root, hsm_ca.issuing).returncode == 0
    assert_clean(lint("lint_cabf_serverauth_cert", hsm_ca.issuing, detected="INTERNAL-UNCONSTRAINED-TLS-CA"))
    assert_clean(lint("lint_cabf_serverauth_cert", hsm_ca.root, detected="ROOT-CA"))
    for index in range(6):  # two forked workers: each logs in to the token on its own
        issued = issue(hsm_server, key_shop.fresh_csr("p256", subj=f"/CN=w{index}.example.com")[1],
                       token=hsm_server.tokens["requester"])
        done = verify(hsm_ca, issued.path)
        assert done.returncode == 0 and "OK" in done.stdout, done.stdout + done.stderr
    assert_clean(lint("lint_cabf_serverauth_cert", issued.path, detected="DV-FINAL-CERTIFICATE"))
    rsa = issue(hsm_server, key_shop.csr("rsa2048", subj="/CN=rsa.example.com"), token=hsm_server.tokens["requester"])
    assert verify(hsm_ca, rsa.path).returncode == 0


def test_crls_and_ocsp_signed_in_the_token_pass_openssl_and_pkilint(hsm_server: LiveServer, hsm_ca: CaFiles,
                                                                    key_shop: KeyShop, tmp_path: Path) -> None:
    issued = issue(hsm_server, key_shop.csr("p256", subj="/CN=revoked.example.com"), token=hsm_server.tokens["requester"])
    good = ask_ocsp(hsm_server, hsm_ca, tmp_path, cert=issued.path)
    assert good.status == "good" and good.verified, good.output
    status, body = hsm_server.call("POST", f"/api/v1/certificates/{issued.serial}/revoke",
                                   token=hsm_server.tokens["admin"], body={"reason": "keyCompromise"})
    assert status == 200, body
    crl = fetch_crl(hsm_server, hsm_ca, tmp_path)  # `openssl crl -CAfile` must say verify OK
    assert crl.crl.get_revoked_certificate_by_serial_number(issued.cert.serial_number) is not None
    assert [f for f in lint("lint_crl", "-t", "CRL", "-p", "BR", crl.der) if f[0] in BLOCKING | {"WARNING"}] == []
    root_crl = fetch_crl(hsm_server, hsm_ca, tmp_path, "root-crl", "/crl/root")
    assert [f for f in lint("lint_crl", "-t", "ARL", "-p", "BR", root_crl.der) if f[0] in BLOCKING | {"WARNING"}] == []
    for nonce in (True, False):
        revoked = ask_ocsp(hsm_server, hsm_ca, tmp_path, cert=issued.path, nonce=nonce)
        assert revoked.status == "revoked" and revoked.reason == "keyCompromise" and revoked.verified, revoked.output
        response = tmp_path / f"hsm-ocsp-{nonce}.der"
        response.write_bytes(revoked.response.public_bytes(serialization.Encoding.DER))
        assert [f for f in lint("lint_ocsp_response", response) if f[0] in BLOCKING | {"WARNING"}] == []
    assert_clean(lint("lint_cabf_serverauth_cert", "-t", "OCSP-RESPONDER", hsm_server.data_dir / "ocsp" / "responder.pem"))
