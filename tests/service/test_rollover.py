"""Issuing CA rollover on a real CA and database: who signs when, per-CA CRLs and URLs, refusals, status."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID
from flask.testing import FlaskClient
from sqlmodel import select

from service.audit.verify import verify_audit_log
from service.ca.keystore import load_private_key
from service.db.models import AuditEvent, CaGeneration
from service.errors import BadRequest, Conflict
from service.process.bootstrap import audit_key_path
from service.process.runtime import Runtime
from service.usecases.rollover import SWITCH_NOTICE, ca_status, roll_over
from tests.api.helpers import submit
from tests.clock import FakeClock
from tests.conftest import BASE_URL, bearer
from tests.factories import csr_pem


def _issue(client: FlaskClient, token: str, name: str) -> dict[str, Any]:
    response = submit(client, token, csr_pem(cn=name))
    assert response.status_code == 201, response.get_json()
    return response.get_json()["certificate"]  # type: ignore[no-any-return]


def _urls(pem: str) -> tuple[str, str]:
    cert = x509.load_pem_x509_certificate(pem.encode())
    cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value[0].full_name[0].value
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    ca_issuers = next(d.access_location.value for d in aia if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS)
    return cdp, ca_issuers


def _roll(runtime: Runtime, clock: FakeClock, **kw: Any) -> Any:
    s = runtime.settings
    return roll_over(runtime.db, s.data_dir / "ca", s.ca_passphrase, s.base_url, actor="cli:test", clock=clock, **kw)


def test_the_new_ca_signs_from_its_time_and_the_old_one_answers_for_its_own(
        runtime: Runtime, client: FlaskClient, tokens: dict[str, str], clock: FakeClock) -> None:
    old = _issue(client, tokens["requester"], "before.example.com")
    result = _roll(runtime, clock, active_from=clock() + timedelta(hours=1))
    assert result.generation == 2
    still_old = _issue(client, tokens["requester"], "still-before.example.com")
    assert still_old["issuing_ca"] == 1 and client.get("/ca.pem").data.decode() == old["chain_pem"]

    clock.advance(hours=1)
    new = _issue(client, tokens["requester"], "after.example.com")
    assert new["issuing_ca"] == 2 and old["issuing_ca"] == 1
    new_cert = x509.load_pem_x509_certificate(new["pem"].encode())
    issuing_2 = x509.load_pem_x509_certificate(new["chain_pem"].encode())
    assert issuing_2 == result.certificate and new_cert.issuer == issuing_2.subject
    new_cert.verify_directly_issued_by(issuing_2)
    old_cert = x509.load_pem_x509_certificate(old["pem"].encode())
    old_cert.verify_directly_issued_by(x509.load_pem_x509_certificate(old["chain_pem"].encode()))
    assert _urls(old["pem"]) == (f"{BASE_URL}/crl", f"{BASE_URL}/ca/issuing.cer")
    assert _urls(new["pem"]) == (f"{BASE_URL}/crl/2", f"{BASE_URL}/ca/issuing/2.cer")
    assert client.get("/ca.pem").data.decode() == new["chain_pem"]
    assert client.get("/ca/1.pem").data.decode() == old["chain_pem"]
    assert x509.load_der_x509_certificate(client.get("/ca/issuing/2.cer").data) == issuing_2
    assert client.get("/ca/issuing.cer").data == client.get("/ca/issuing/1.cer").data != client.get("/ca/issuing/2.cer").data
    assert client.get("/ca/issuing/3.cer").status_code == 404 and client.get("/crl/3").status_code == 404

    listed = client.get(f"/api/v1/certificates?serial={old['serial_number']}", headers=bearer(tokens["auditor"])).get_json()
    assert [item["issuing_ca"] for item in listed["items"]] == [1]
    for generation, serials in ((1, {old["serial_number"], still_old["serial_number"]}), (2, {new["serial_number"]})):
        page = client.get(f"/api/v1/certificates?issuing_ca={generation}", headers=bearer(tokens["auditor"])).get_json()
        assert {item["serial_number"] for item in page["items"]} == serials and page["total"] == len(serials)
    for cert in (old, new):  # revoke one of each: each CRL lists only its own CA's certificate
        done = client.post(f"/api/v1/certificates/{cert['serial_number']}/revoke", json={"reason": "superseded"},
                           headers=bearer(tokens["admin"]))
        assert done.status_code == 200, done.get_json()
    crl_1, crl_2 = (x509.load_der_x509_crl(client.get(path).data) for path in ("/crl", "/crl/2"))
    issuing_1 = x509.load_pem_x509_certificate(old["chain_pem"].encode())
    assert crl_1.issuer == issuing_1.subject and crl_1.is_signature_valid(issuing_1.public_key())  # type: ignore[arg-type]
    assert crl_2.issuer == issuing_2.subject and crl_2.is_signature_valid(issuing_2.public_key())  # type: ignore[arg-type]
    assert crl_1.get_revoked_certificate_by_serial_number(old_cert.serial_number) is not None
    assert crl_1.get_revoked_certificate_by_serial_number(new_cert.serial_number) is None
    assert crl_2.get_revoked_certificate_by_serial_number(new_cert.serial_number) is not None

    statuses = ca_status(runtime.db, runtime.settings.data_dir / "ca", clock())
    assert [(s.generation, s.signing, s.certificates) for s in statuses] == [(1, False, 2), (2, True, 1)]
    assert statuses[0].duty.startswith("retired from issuing; CRL and OCSP until")
    key = load_private_key(audit_key_path(runtime.settings.data_dir), None)
    with runtime.db.read() as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.event == "ca:rolled_over")).all()
        assert [e.data["generation"] for e in events] == [2] and events[0].actor == "cli:test"
        assert verify_audit_log(session, key.public_key()).ok  # type: ignore[arg-type]


def test_a_rollover_into_the_past_or_past_a_scheduled_one_is_refused_and_changes_nothing(
        runtime: Runtime, clock: FakeClock) -> None:
    ca_dir = runtime.settings.data_dir / "ca"
    with pytest.raises(BadRequest):
        _roll(runtime, clock, active_from=clock() - timedelta(hours=1))
    assert not (ca_dir / "issuing-2.pem").exists() and not (ca_dir / "issuing-2.key.pem").exists()
    _roll(runtime, clock, active_from=clock() + timedelta(days=1))
    with pytest.raises(Conflict):
        _roll(runtime, clock)
    assert not (ca_dir / "issuing-3.key.pem").exists()
    with runtime.db.read() as session:
        assert [g.id for g in session.exec(select(CaGeneration)).all()] == [2]
        assert len(session.exec(select(AuditEvent).where(AuditEvent.event == "ca:rolled_over")).all()) == 1
    statuses = ca_status(runtime.db, ca_dir, clock())
    assert statuses[1].duty.startswith("scheduled: issuing from") and statuses[0].signing


def test_a_running_process_learns_of_a_rollover_made_by_another(runtime: Runtime, settings: Any, clock: FakeClock) -> None:
    other = Runtime.open(settings, clock=clock)  # another worker, opened before the rollover
    try:
        assert other.ca.generation == 1
        result = _roll(runtime, clock)
        assert result.active_from >= clock() + SWITCH_NOTICE  # every worker hears of it before it starts
        assert other.ca.generation == 1  # (it read the head less than a second ago)
        clock.advance(seconds=1)
        assert other.ca.generation == 1 and other.roster.generations()[-1].id == 2  # known, not started
        clock.now = result.active_from
        assert other.ca.generation == 2 and other.roster.get(2).issuing_cert == runtime.roster.get(2).issuing_cert
    finally:
        other.db.dispose()


def test_a_rollover_that_cannot_commit_leaves_no_files(runtime: Runtime, clock: FakeClock) -> None:
    """The transaction fails after the files were written (here: the clock read at commit): they go again."""
    calls = []

    def failing_at_commit() -> Any:
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("clock gone")
        return clock()

    s = runtime.settings
    with pytest.raises(RuntimeError):
        roll_over(runtime.db, s.data_dir / "ca", None, s.base_url, actor="cli:test", clock=failing_at_commit)
    assert len(calls) == 2 and not list((s.data_dir / "ca").glob("issuing-2*"))
    with runtime.db.read() as session:
        assert session.exec(select(CaGeneration)).all() == []
    assert _roll(runtime, clock).generation == 2  # and the next attempt is not blocked
