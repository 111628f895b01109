"""Issuing CA rollover under load on a real server, checked with openssl (verify, crl, ocsp); SQLite and PostgreSQL."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from sqlalchemy import create_engine, text

from tests.e2e.conftest import LiveServer, start_server, stop_server
from tests.e2e.load import Burst
from tests.e2e.pki_clients import CaFiles, http_get, openssl
from tests.e2e.revocation_clients import ask_ocsp, fetch_crl

pytestmark = pytest.mark.e2e
POSTGRES_URL = os.environ.get("CERTGATE_TEST_POSTGRES_URL")


@pytest.fixture(params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    """A server of its own (a rollover changes it for good), on each database."""
    if request.param == "sqlite":
        live = start_server(tmp_path, token_keys=["requester", "admin"])
        yield live
        stop_server(live)
        return
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL not available: set CERTGATE_TEST_POSTGRES_URL")
    name = f"certgate_roll_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        live = start_server(tmp_path, database_url=POSTGRES_URL.rsplit("/", 1)[0] + "/" + name,
                            token_keys=["requester", "admin"])
        yield live
        stop_server(live)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _files(server: LiveServer, generation: int, workdir: Path) -> CaFiles:
    """Root, issuing CA N and its chain, as a relying party fetches them (`/ca/N.pem`)."""
    status, _, chain = http_get(f"{server.url}/ca/{generation}.pem")
    assert status == 200
    path = workdir / f"chain-{generation}.pem"
    path.write_bytes(chain)
    issuing = workdir / f"issuing-{generation}.pem"
    issuing.write_bytes(chain[:chain.index(b"-----END CERTIFICATE-----") + 26])
    return CaFiles(server.data_dir / "ca" / "root.pem", issuing, path)


def test_rollover_under_load(server: LiveServer, tmp_path: Path) -> None:
    burst = Burst(server.url, server.tokens["requester"], threads=4).start()
    try:
        assert burst.wait_until(lambda: burst.done() >= 8, timeout=120), burst.tally()
        rolled = server.cli("ca", "rollover")
        match = re.search(r"signs from (\S+);", rolled.stdout)
        assert match, rolled.stdout
        active_from = datetime.fromisoformat(match.group(1))
        assert burst.wait_until(lambda: datetime.now(UTC) > active_from, timeout=30)
        seen = burst.done()
        assert burst.wait_until(lambda: burst.done() >= seen + 8, timeout=120), burst.tally()
    finally:
        outcomes = burst.stop()
    assert {o.kind for o in outcomes} == {"201"}, burst.tally()  # every request answered, none failed

    issued = [o.json()["certificate"] for o in outcomes]  # type: ignore[index]
    by_generation: dict[int, list[Path]] = {1: [], 2: []}
    for n, cert in enumerate(issued):
        issued_at = x509.load_pem_x509_certificate(cert["pem"].encode()).not_valid_before_utc + timedelta(minutes=1)
        assert cert["issuing_ca"] in (1, 2)
        # The switch is at the recorded time: the old CA signed before it, the new one after
        # (certificate times are whole seconds).
        if cert["issuing_ca"] == 1:
            assert issued_at <= active_from, (issued_at, active_from)
        else:
            assert issued_at >= active_from.replace(microsecond=0), (issued_at, active_from)
        path = tmp_path / f"leaf-{n}.pem"
        path.write_text(cert["pem"])
        by_generation[cert["issuing_ca"]].append(path)
    assert len(by_generation[1]) >= 8 and len(by_generation[2]) >= 4  # (4 may have begun before the switch)

    old, new = _files(server, 1, tmp_path), _files(server, 2, tmp_path)
    status, _, published = http_get(server.url + "/ca.pem")
    assert published == new.chain.read_bytes()
    for generation, files, other in ((1, old, new), (2, new, old)):
        for leaf in by_generation[generation]:
            done = openssl("verify", "-CAfile", files.root, "-untrusted", files.issuing, leaf, check=False)
            assert done.returncode == 0, done.stdout + done.stderr
        wrong = openssl("verify", "-CAfile", other.root, "-untrusted", other.issuing, by_generation[generation][0], check=False)
        assert wrong.returncode != 0  # each leaf chains to its own issuing CA only

    # The retired CA still answers for its certificates: revoke one, its CRL and OCSP say so.
    old_leaf, new_leaf = by_generation[1][0], by_generation[2][0]
    serial = format(x509.load_pem_x509_certificate(old_leaf.read_bytes()).serial_number, "x")
    status_code, body = server.call("POST", f"/api/v1/certificates/{serial}/revoke", token=server.tokens["admin"],
                                    body={"reason": "keyCompromise"})
    assert status_code == 200 and body["issuing_ca"] == 1, body  # type: ignore[index]
    crl = fetch_crl(server, old, tmp_path, "crl-1", "/crl")  # openssl checks its signature against chain 1
    assert crl.crl.get_revoked_certificate_by_serial_number(int(serial, 16)) is not None
    revoked = openssl("verify", "-crl_check", "-CRLfile", crl.pem, "-CAfile", old.chain, old_leaf, check=False)
    assert revoked.returncode != 0 and "certificate revoked" in revoked.stdout + revoked.stderr
    crl_2 = fetch_crl(server, new, tmp_path, "crl-2", "/crl/2")
    assert openssl("verify", "-crl_check", "-CRLfile", crl_2.pem, "-CAfile", new.chain, new_leaf).returncode == 0
    for nonce in (True, False):
        answer = ask_ocsp(server, old, tmp_path, cert=old_leaf, nonce=nonce)
        assert answer.status == "revoked" and answer.verified, answer.output
        assert ask_ocsp(server, old, tmp_path, cert=by_generation[1][-1], nonce=nonce).status == "good"
        current = ask_ocsp(server, new, tmp_path, cert=new_leaf, nonce=nonce)
        assert current.status == "good" and current.verified, current.output

    status_out = server.cli("ca", "status").stdout
    assert "issuing CA 2" in status_out and "retired from issuing; CRL and OCSP until" in status_out
    audited = server.cli("audit", "verify", check=False)
    assert audited.returncode == 0, audited.stdout + audited.stderr
