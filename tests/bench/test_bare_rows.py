"""bench/bare_rows.py writes what certgate writes for an issuance: certgate's own audit check
accepts its events, its models read its rows, and each row has the shape of a certgate-written one."""

from __future__ import annotations

import json
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from sqlmodel import select

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.append(str(BENCH))  # after the project: bench module names must not shadow others

import harness  # noqa: E402
from bare_issuer import BareCa, create_bare_app, issue_leaf  # noqa: E402
from bare_rows import RowWriter, leaf_hash  # noqa: E402
from service.process.app import create_app  # noqa: E402
from service.audit.canonical import event_leaf_hash  # noqa: E402
from service.audit.verify import verify_audit_log  # noqa: E402
from service.process.bootstrap import audit_key_path  # noqa: E402
from service.ca.keystore import load_private_key  # noqa: E402
from service.process.config import Settings  # noqa: E402
from service.db.models import Certificate, CertificateName, CertificateRequest  # noqa: E402
from service.db.session import Database  # noqa: E402
from service.inventory_names import dns_key, ip_key  # noqa: E402


def _rows(db: Path, sql: str) -> list[dict[str, Any]]:
    with sqlite3.connect(db) as connection:
        connection.row_factory = sqlite3.Row
        return [dict(r) for r in connection.execute(sql)]


def _shape(row: dict[str, Any]) -> dict[str, Any]:
    """Which columns are NULL, and the keys of JSON objects / the type of JSON lists."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, str) and value[:1] in "[{":
            parsed = json.loads(value)
            out[key] = sorted(parsed) if isinstance(parsed, dict) else type(parsed).__name__
        else:
            out[key] = value is None
    return out


def test_rows_pass_certgates_audit_check_and_match_its_own_rows(tmp_path: Path) -> None:
    data = tmp_path / "data"
    token = harness.prepare_certgate(data)
    pems = harness.split_pool(harness.csr_pool(4000))[:4]
    db_file = data / "certgate.db"
    settings = Settings.from_env({"CERTGATE_DATA_DIR": str(data),
                                  "CERTGATE_POLICY_FILE": str(harness.lint_off_policy(tmp_path / "lint-off.toml"))})

    # One issuance by certgate itself, then three by the bare issuer with rows, on the same database.
    certgate = create_app(settings).test_client()
    answer = certgate.post("/api/v1/requests", data=pems[0],
                           headers={"Content-Type": "application/pkcs10", "Authorization": f"Bearer {token}"})
    assert answer.status_code == 201, answer.get_data(as_text=True)[:300]
    bare = create_bare_app(BareCa.create(datetime.now(UTC)), rows=RowWriter(db_file)).test_client()
    for pem in pems[1:]:
        answer = bare.post("/issue", data=pem)
        assert answer.status_code == 201
        assert answer.data.startswith(b"-----BEGIN CERTIFICATE-----") and answer.data.count(b"BEGIN") == 1

    db = Database(settings.database_url)
    try:
        with db.read() as session:
            report = verify_audit_log(session, load_private_key(audit_key_path(data), None).public_key())  # type: ignore[arg-type]
            assert report.ok, report
            requests = session.exec(select(CertificateRequest).order_by(CertificateRequest.created_at)).all()
            certificates = session.exec(select(Certificate).order_by(Certificate.id)).all()
            names = session.exec(select(CertificateName)).all()
    finally:
        db.dispose()
    assert len(requests) == len(certificates) == 4
    for request, cert in zip(requests, certificates):
        assert request.status == "issued" and cert.request_id == request.id and cert.not_after > cert.issued_at
        assert {(n.kind, n.value) for n in names if n.certificate_id == cert.id} == {
            ("dns", dns_key(str(request.common_name))), ("ip", ip_key(request.named_ips[0]))}

    events = _rows(db_file, 'SELECT * FROM audit_events ORDER BY "index"')
    assert [e["event"] for e in events[-8:]] == ["request:submitted", "certificate:issued"] * 4
    assert _rows(db_file, "SELECT size FROM audit_head") == [{"size": len(events)}]
    for table in ("requests", "certificates"):
        rows = _rows(db_file, f"SELECT * FROM {table} ORDER BY rowid")
        assert _shape(rows[-1]) == _shape(rows[0]), table
    for ours, theirs in ((events[-2], events[-8]), (events[-1], events[-7])):
        assert _shape(ours) == _shape(theirs)


def test_leaf_hash_is_certgates() -> None:
    now = datetime.now(UTC)
    data = {"request_id": "r", "named_ips": ["5.6.7.1"], "grant_id": None, "n": 90, "ok": True, "é": "ü"}
    assert leaf_hash(7, "certificate:issued", "bench", now, "certificate:ab", data) == \
        event_leaf_hash(7, "certificate:issued", "bench", now, "certificate:ab", data).hex()


def test_issue_leaf_copies_the_csrs_names() -> None:
    pem = harness.split_pool(harness.csr_pool(4000))[0]
    leaf = issue_leaf(pem, BareCa.create(datetime.now(UTC)), datetime.now(UTC))
    san = x509.SubjectAlternativeName
    assert leaf.certificate.extensions.get_extension_for_class(san).value == \
        leaf.csr.extensions.get_extension_for_class(san).value
