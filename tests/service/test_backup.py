"""Backup and restore on a real CA and database (SQLite and PostgreSQL): round trip, tampering, live targets."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlmodel import select

from service.audit.verify import verify_audit_log
from service.backup.manifest import MANIFEST, Manifest, check, seal, sha256_file
from service.backup.restore import CRL_NUMBER_JUMP, restore
from service.backup.snapshot import take_backup
from service.ca.authority import init_ca
from service.ca.keystore import CaKeyType, load_private_key
from service.db.models import AuditEvent, Certificate, CrlState
from service.db.session import Database
from service.domain import Role
from service.errors import BackupRefused
from service.process.bootstrap import audit_key_path
from service.process.app import create_app
from service.process.config import Settings
from service.process.runtime import Runtime
from service.tokens import create_token
from service.usecases.rollover import roll_over
from tests.api.helpers import submit
from tests.clock import FakeClock
from tests.conftest import BASE_URL, POSTGRES_URL, bearer
from tests.factories import csr_pem


@pytest.fixture
def target(settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """Settings for a restore: a new data dir and an empty database of the same kind."""
    if settings.database_url.startswith("sqlite"):
        yield Settings.from_env({"CERTGATE_DATA_DIR": str(tmp_path / "restored"), "CERTGATE_BASE_URL": BASE_URL})
        return
    assert POSTGRES_URL
    name = f"certgate_restore_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield Settings.from_env({"CERTGATE_DATA_DIR": str(tmp_path / "restored"), "CERTGATE_BASE_URL": BASE_URL,
                             "CERTGATE_DATABASE_URL": POSTGRES_URL.rsplit("/", 1)[0] + "/" + name})
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _issue_some(client: FlaskClient, tokens: dict[str, str], n: int, prefix: str) -> list[str]:
    serials = []
    for i in range(n):
        response = submit(client, tokens["requester"], csr_pem(cn=f"{prefix}-{i}.example.com"))
        assert response.status_code == 201, response.get_json()
        serials.append(response.get_json()["certificate"]["serial_number"])
    return serials


def _tables_in(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if url.startswith("sqlite"):
                return int(conn.execute(text("SELECT count(*) FROM sqlite_master WHERE type = 'table'")).scalar() or 0)
            return int(conn.execute(text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")).scalar() or 0)
    finally:
        engine.dispose()


def _nothing_restored(target: Settings) -> None:
    assert not target.data_dir.exists()
    assert not [p for p in target.data_dir.parent.iterdir() if p.name.startswith(f".{target.data_dir.name}.")]
    if not target.database_url.startswith("sqlite"):
        assert _tables_in(target.database_url) == 0


def test_backup_and_restore_round_trip(runtime: Runtime, client: FlaskClient, tokens: dict[str, str], clock: FakeClock,
                                       target: Settings, tmp_path: Path) -> None:
    before = _issue_some(client, tokens, 3, "before")
    roll_over(runtime.db, runtime.settings.data_dir / "ca", None, BASE_URL, actor="cli:test", clock=clock)
    before += _issue_some(client, tokens, 2, "rolled")
    revoked = client.post(f"/api/v1/certificates/{before[0]}/revoke", json={"reason": "superseded"},
                          headers=bearer(tokens["admin"]))
    assert revoked.status_code == 200
    with runtime.db.read() as session:
        crl_numbers = {s.issuer: s.crl_number for s in session.exec(select(CrlState)).all()}
    manifest = take_backup(runtime.settings, tmp_path / "backup", clock())
    assert {"ca/root.pem", "ca/issuing.pem", "ca/issuing-2.pem", "ca/issuing-2.key.pem", "audit/log-key.pem",
            "policy/default.toml"} <= set(manifest.files)
    assert manifest.database == ("sqlite" if runtime.db.is_sqlite else "postgresql")
    after = _issue_some(client, tokens, 2, "after")  # not in the backup

    clock.advance(minutes=5)
    report = restore(target, tmp_path / "backup", clock(), "cli:test")
    assert report.generations == (1, 2)
    restored = Database(target.database_url)
    try:
        with restored.read() as session:
            serials = set(session.exec(select(Certificate.serial_number)).all())
            assert serials == set(before) and not serials & set(after)
            assert {s.issuer: s.crl_number for s in session.exec(select(CrlState)).all()} == {
                k: v + CRL_NUMBER_JUMP for k, v in crl_numbers.items()}
            last = session.exec(select(AuditEvent).order_by(AuditEvent.index.desc())).first()  # type: ignore[attr-defined]
            assert last is not None and last.event == "backup:restored" and last.actor == "cli:test"
            key = load_private_key(audit_key_path(target.data_dir), None)
            assert verify_audit_log(session, key.public_key()).ok  # type: ignore[arg-type]
    finally:
        restored.dispose()
    for name, digest in manifest.files.items():  # CA files and keys come back byte for byte, modes kept
        if not name.startswith("db/"):
            assert sha256_file(target.data_dir / name) == digest
    assert (target.data_dir / "ca" / "issuing-2.key.pem").stat().st_mode & 0o777 == 0o600

    # A server on the restored data issues on, with fresh serials, from the CA that signed last.
    rt = Runtime.open(target, clock=clock)
    try:
        assert rt.ca.generation == 2
        with rt.db.write() as session:
            secret = create_token(session, name="restored-requester", role=Role.REQUESTER, actor="test", now=clock())
        new = _issue_some(create_app(target, runtime=rt).test_client(), {"requester": secret}, 3, "restored")
        assert not set(new) & set(before) and len(set(new)) == 3
        assert rt.revocation.crl(clock(), 2)
    finally:
        rt.db.dispose()


@pytest.mark.parametrize("tamper", ["change-key", "change-db", "add-file", "remove-file", "forge-manifest"])
def test_a_tampered_backup_is_refused_and_nothing_is_restored(runtime: Runtime, client: FlaskClient,
                                                              tokens: dict[str, str], clock: FakeClock,
                                                              target: Settings, tmp_path: Path, tamper: str) -> None:
    _issue_some(client, tokens, 1, "t")
    backup = tmp_path / "backup"
    take_backup(runtime.settings, backup, clock())
    db_name = next(n for n in os.listdir(backup / "db"))
    if tamper == "change-key":
        path = backup / "ca" / "issuing.pem"
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n", 1))
    elif tamper == "change-db":
        path = backup / "db" / db_name
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 1
        path.write_bytes(bytes(data))
    elif tamper == "add-file":
        (backup / "ca" / "extra.pem").write_text("x")
    elif tamper == "remove-file":
        (backup / "ocsp" / "responder.pem").unlink()
    else:  # new digests, but no key to sign them: the signature no longer matches
        manifest = Manifest.from_bytes((backup / MANIFEST).read_bytes())
        (backup / "ca" / "root.pem").write_bytes((backup / "ca" / "issuing.pem").read_bytes())
        forged = Manifest(manifest.created_at, manifest.database, manifest.policy_file,
                          manifest.files | {"ca/root.pem": sha256_file(backup / "ca" / "root.pem")})
        (backup / MANIFEST).write_bytes(forged.to_bytes())
    with pytest.raises(BackupRefused):
        restore(target, backup, clock(), "cli:test")
    _nothing_restored(target)


def test_a_backup_whose_chain_fails_is_refused_after_the_manifest(runtime: Runtime, clock: FakeClock, target: Settings,
                                                                  tmp_path: Path) -> None:
    """Signed by its own log key but holding a foreign issuing CA: the chain check refuses and cleans up."""
    backup = tmp_path / "backup"
    manifest = take_backup(runtime.settings, backup, clock())
    other = tmp_path / "other-ca"
    init_ca(other, CaKeyType.P256, None, clock(), BASE_URL)
    for name in ("issuing.pem", "issuing.key.pem"):
        shutil.copyfile(other / name, backup / "ca" / name)
    key = load_private_key(audit_key_path(backup), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    seal(backup, Manifest(manifest.created_at, manifest.database, manifest.policy_file,
                          {n: sha256_file(backup / n) for n in manifest.files}), key)
    check(backup, key.public_key())
    with pytest.raises(BackupRefused, match="CA chain"):
        restore(target, backup, clock(), "cli:test")
    _nothing_restored(target)


def test_restore_refuses_a_live_data_dir_or_database(runtime: Runtime, clock: FakeClock, target: Settings,
                                                     tmp_path: Path) -> None:
    backup = tmp_path / "backup"
    take_backup(runtime.settings, backup, clock())
    with pytest.raises(BackupRefused, match="not empty"):
        restore(runtime.settings, backup, clock(), "cli:test")  # the running service's own data dir
    live_db = Settings.from_env({"CERTGATE_DATA_DIR": str(tmp_path / "fresh"), "CERTGATE_BASE_URL": BASE_URL,
                                 "CERTGATE_DATABASE_URL": runtime.settings.database_url})
    with pytest.raises(BackupRefused, match="already holds tables"):
        restore(live_db, backup, clock(), "cli:test")
    with pytest.raises(BackupRefused, match="not empty"):
        take_backup(runtime.settings, backup, clock() + timedelta(seconds=1))  # never over an earlier backup
