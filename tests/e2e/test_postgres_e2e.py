"""Issuance and revocation once more with the server on PostgreSQL (a fresh database, dropped after)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.e2e.conftest import LiveServer, start_server, stop_server
from tests.e2e.pki_clients import CaFiles, KeyShop, issue, openssl, verify
from tests.e2e.revocation_clients import ask_ocsp, fetch_crl

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
POSTGRES_URL = os.environ.get("CERTGATE_TEST_POSTGRES_URL")


@pytest.fixture(scope="module")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL not available: set CERTGATE_TEST_POSTGRES_URL")
    name = f"certgate_e2e_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        server = start_server(tmp_path_factory.mktemp("pg"), database_url=POSTGRES_URL.rsplit("/", 1)[0] + "/" + name)
        try:
            yield server
        finally:
            stop_server(server)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_issue_and_revoke_on_postgres(pg_server: LiveServer, key_shop: KeyShop, tmp_path: Path) -> None:
    files = CaFiles.of(pg_server)
    assert not (pg_server.data_dir / "certgate.db").exists()  # the database really is elsewhere
    token = pg_server.tokens["requester"]
    good = issue(pg_server, key_shop.csr("p256", subj="/CN=pg-good.example.com"), token=token, form="pem")
    bad = issue(pg_server, key_shop.fresh_csr("rsa2048", subj="/CN=pg-bad.example.com")[1], token=token)
    for leaf in (good, bad):
        assert verify(files, leaf.path).returncode == 0

    before = fetch_crl(pg_server, files, tmp_path, "before")
    status, body = pg_server.call("POST", f"/api/v1/certificates/{bad.serial}/revoke", token=pg_server.tokens["admin"],
                                  body={"reason": "keyCompromise"})
    assert status == 200, body
    again = pg_server.call("POST", f"/api/v1/certificates/{bad.serial}/revoke", token=pg_server.tokens["admin"],
                           body={"reason": "keyCompromise"})
    assert again[0] == 409

    for i in range(3):  # both workers
        after = fetch_crl(pg_server, files, tmp_path, f"after-{i}")
        assert after.number > before.number
        assert after.crl.get_revoked_certificate_by_serial_number(bad.cert.serial_number) is not None
        assert after.crl.get_revoked_certificate_by_serial_number(good.cert.serial_number) is None
    done = openssl("verify", "-crl_check", "-CRLfile", after.pem, "-CAfile", files.chain, bad.path, check=False)
    assert done.returncode != 0 and "certificate revoked" in done.stdout + done.stderr
    assert openssl("verify", "-crl_check", "-CRLfile", after.pem, "-CAfile", files.chain, good.path).returncode == 0
    assert "Key Compromise" in openssl("crl", "-inform", "DER", "-in", after.der, "-noout", "-text").stdout

    audited = pg_server.cli("audit", "verify", check=False)
    assert audited.returncode == 0, audited.stdout + audited.stderr


def test_ocsp_on_postgres(pg_server: LiveServer, key_shop: KeyShop, tmp_path: Path) -> None:
    files = CaFiles.of(pg_server)
    leaf = issue(pg_server, key_shop.fresh_csr("p256", subj="/CN=pg-ocsp.example.com")[1], token=pg_server.tokens["requester"])
    assert ask_ocsp(pg_server, files, tmp_path, cert=leaf.path).status == "good"
    status, body = pg_server.call("POST", f"/api/v1/certificates/{leaf.serial}/revoke", token=pg_server.tokens["admin"],
                                  body={"reason": "keyCompromise"})
    assert status == 200, body
    for nonce in (True, False, False):
        answer = ask_ocsp(pg_server, files, tmp_path, cert=leaf.path, nonce=nonce)
        assert answer.status == "revoked" and answer.reason == "keyCompromise" and answer.verified, answer.output
