"""Scale-out: two `certgate serve` instances (own data-dir copies of one CA) over one PostgreSQL database.

Concurrent submissions and approvals through both, a range added through A used by B, a
revocation through A seen in B's CRL and OCSP; then the shared state must hold together:
unique serials, a gap-free audit log that `certgate audit verify` accepts, and a one-to-one
match between certificates and their issuance events.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from sqlalchemy import create_engine, text

from service.db.session import Database
from service.tokens import create_token
from tests.e2e.conftest import LiveServer, free_port, stop_server
from tests.conftest import TOKEN_NAMES
from tests.factories import csr_pem

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
POSTGRES_URL = os.environ.get("CERTGATE_TEST_POSTGRES_URL")
SUBMISSIONS_PER_INSTANCE = 12
THREADS = 8


@pytest.fixture(scope="module")
def shared_database() -> Iterator[str]:
    """An empty PostgreSQL database for both instances, dropped afterwards."""
    if not POSTGRES_URL:
        pytest.skip("scale-out needs PostgreSQL: set CERTGATE_TEST_POSTGRES_URL (scripts/test does)")
    name = f"certgate_scale_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "service.cli", *args], env=env, text=True, capture_output=True,
                          timeout=120, check=False)


def _start(home: Path, database_url: str, tokens: dict[str, str]) -> LiveServer:
    """`certgate serve` over `home/data` (already initialised) and the shared database."""
    port = free_port()
    env = {**os.environ, "CERTGATE_DATA_DIR": str(home / "data"), "CERTGATE_DATABASE_URL": database_url,
           "CERTGATE_BASE_URL": f"http://127.0.0.1:{port}", "PYTHONUNBUFFERED": "1"}
    log = (home / "server.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--workers", "2"],
                               env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return LiveServer(url, env, home / "data", tokens, process)
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("server did not start:\n" + (home / "server.log").read_text())
        time.sleep(0.1)


@pytest.fixture(scope="module")
def pair(shared_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Instances A and B: one `certgate init`, its data dir copied, the tokens made once."""
    a_home, b_home = tmp_path_factory.mktemp("instance-a"), tmp_path_factory.mktemp("instance-b")
    env = {**os.environ, "CERTGATE_DATA_DIR": str(a_home / "data"), "CERTGATE_DATABASE_URL": shared_database}
    assert _cli(env, "init").returncode == 0
    shutil.copytree(a_home / "data", b_home / "data")
    db = Database(shared_database)  # in process: six CLI start-ups would cost more than the test
    with db.write() as session:
        tokens = {key: create_token(session, name=name, role=role, actor="test", now=datetime.now(UTC))
                  for key, (name, role) in TOKEN_NAMES.items()}
    db.dispose()
    a = _start(a_home, shared_database, tokens)
    try:
        b = _start(b_home, shared_database, tokens)
    except Exception:
        stop_server(a)
        raise
    yield a, b
    stop_server(a)
    stop_server(b)


def _submit(server: LiveServer, token: str, csr: bytes) -> tuple[int, Any]:
    return server.call("POST", "/api/v1/requests", token=token, body={"csr": csr.decode()})


def test_two_instances_share_one_consistent_state(pair: tuple[LiveServer, LiveServer], shared_database: str) -> None:
    a, b = pair
    t = a.tokens
    assert a.call("POST", "/api/v1/ranges", token=t["admin"], body={"cidr": "5.6.7.0/24"})[0] == 201
    # A domain added through A is seen by B's very next request (the judge checks the change-log head).
    assert a.call("POST", "/api/v1/domains", token=t["admin"], body={"domain": "example.com"})[0] == 201

    # Concurrent submissions through both instances: compliant ones and ones that open an exception.
    jobs = []
    for i in range(SUBMISSIONS_PER_INSTANCE * 2):
        server = (a, b)[i % 2]
        token = t[("requester", "requester2")[i // 2 % 2]]
        ip = f"5.6.7.{i + 1}" if i % 3 else f"9.9.9.{i + 1}"
        jobs.append((server, token, csr_pem(cn=f"n{i}.example.com", ips=[ip])))
    with ThreadPoolExecutor(THREADS) as pool:
        answers = list(pool.map(lambda job: _submit(*job), jobs))
    assert sorted({status for status, _ in answers}) == [201, 202], answers
    pending = [body["exception"]["id"] for status, body in answers if status == 202]

    # Approvals, concurrently, each exception decided through both instances at once by two approvers.
    def decide(review_id: str) -> list[int]:
        with ThreadPoolExecutor(2) as pool:
            calls = [pool.submit(server.call, "POST", f"/api/v1/exceptions/{review_id}/approve", token=t[who],
                                 body={"reason": "owned by a partner, checked"})
                     for server, who in ((a, "approver"), (b, "approver2"))]
            return [call.result()[0] for call in calls]

    with ThreadPoolExecutor(THREADS // 2) as pool:
        decisions = list(pool.map(decide, pending))
    for statuses in decisions:  # the first approval issues; a concurrent second one finds it decided
        assert sorted(statuses) in ([200, 200], [200, 409]), decisions

    # A range added through A is used by B within a second (each worker refreshes its registry).
    assert a.call("POST", "/api/v1/ranges", token=t["admin"], body={"cidr": "7.7.7.0/24", "owner": "late"})[0] == 201
    time.sleep(1.0)
    for i in range(4):  # several calls, so that both of B's workers answer at least once in all likelihood
        status, body = _submit(b, t["requester"], csr_pem(cn=f"late{i}.example.com", ips=[f"7.7.7.{i + 1}"]))
        assert status == 201, body
        assert b.call("GET", "/api/v1/ranges/lookup?ip=7.7.7.9", token=t["auditor"])[1]["verdict"] == "ok"

    # A revocation through A shows in B's CRL and OCSP (a certificate B issued).
    issued_by_b = [body for (server, _, _), (status, body) in zip(jobs, answers) if status == 201 and server is b]
    serial = issued_by_b[0]["certificate"]["serial_number"]
    status, body = a.call("POST", f"/api/v1/certificates/{serial}/revoke", token=t["admin"], body={"reason": "keyCompromise"})
    assert status == 200 and body["status"] == "revoked", body
    _assert_revoked_at(b, issued_by_b[0]["certificate"]["pem"], int(serial, 16))

    _assert_consistent(shared_database, a)


def _assert_revoked_at(server: LiveServer, leaf_pem: str, serial: int) -> None:
    issuing = x509.load_pem_x509_certificates(server.call("GET", "/ca.pem")[1])[0]  # type: ignore[arg-type]
    status, der = server.call("GET", "/crl")
    assert status == 200 and isinstance(der, bytes)
    crl = x509.load_der_x509_crl(der)
    assert crl.is_signature_valid(issuing.public_key())  # type: ignore[arg-type]
    entry = crl.get_revoked_certificate_by_serial_number(serial)
    assert entry is not None
    request = ocsp.OCSPRequestBuilder().add_certificate(x509.load_pem_x509_certificate(leaf_pem.encode()), issuing,
                                                        hashes.SHA1()).build()
    status, raw = server.call("POST", "/ocsp", data=request.public_bytes(serialization.Encoding.DER),
                              content_type="application/ocsp-request")
    assert status == 200 and isinstance(raw, bytes)
    answer = ocsp.load_der_ocsp_response(raw)
    assert answer.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert answer.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert answer.revocation_reason is x509.ReasonFlags.key_compromise


def _assert_consistent(database_url: str, server: LiveServer) -> None:
    """Unique serials, a gap-free log that `certgate audit verify` accepts, certificates <-> issuance events."""
    engine = create_engine(database_url)
    with engine.connect() as conn:
        serials = [r[0] for r in conn.execute(text("SELECT serial_number FROM certificates"))]
        indexes = [r[0] for r in conn.execute(text('SELECT "index" FROM audit_events ORDER BY "index"'))]
        issued_events = [r[0] for r in conn.execute(text("SELECT subject FROM audit_events WHERE event = 'certificate:issued'"))]
        requests_left = conn.execute(text("SELECT count(*) FROM requests WHERE status NOT IN "
                                          "('issued', 'pending_exception', 'rejected', 'withdrawn', 'expired')")).scalar()
    engine.dispose()
    assert len(serials) == len(set(serials)) > 0
    assert indexes == list(range(len(indexes)))
    assert sorted(issued_events) == sorted(f"certificate:{s}" for s in serials)
    assert requests_left == 0
    verify = server.cli("audit", "verify", check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr
