"""`certgate restore SRC`: check the manifest, restore into a new data dir, verify the CA chain and the audit log."""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import select

from service.audit.log import append_event
from service.audit.verify import verify_audit_log
from service.backup.database import (POSTGRES_FILE, SQLITE_FILE, drop_restored, holds_tables, kind_of, restore_postgres,
                                     sqlite_path)
from service.backup.manifest import MANIFEST, Manifest, check
from service.backup.snapshot import DATA_DIRS, POLICY_DIR, copy_tree
from service.ca.authority import CaPaths, CertificateAuthority
from service.ca.keystore import load_certificate, load_private_key
from service.ca_roster import certificate_sha256
from service.db.migrate import upgrade
from service.db.models import CaGeneration, CrlState
from service.db.session import Database
from service.errors import BackupRefused, CaError
from service.process.bootstrap import audit_key_path
from service.process.config import Settings

# CRL numbers must only grow (RFC 5280 §5.2.3), but the lost server may have published CRLs after
# the backup was taken. The restored CRL numbers jump far past anything it could have reached.
CRL_NUMBER_JUMP = 1 << 32


@dataclass(frozen=True)
class RestoreReport:
    """What was restored and verified."""

    manifest: Manifest
    audit_tree_size: int
    generations: tuple[int, ...]
    policy_file: Path


def _refuse_live_targets(settings: Settings) -> None:
    if settings.data_dir.exists() and (not settings.data_dir.is_dir() or any(settings.data_dir.iterdir())):
        raise BackupRefused(f"{settings.data_dir} is not empty (a live data directory?): restore only into a new one")
    try:
        live = holds_tables(settings.database_url)
    except SQLAlchemyError as exc:
        raise BackupRefused(f"cannot reach the target database: {str(exc).splitlines()[0]}") from None
    if live:
        raise BackupRefused("the target database already holds tables (a live database?): restore only into an empty one")


def verify_chain(ca_dir: Path, passphrase: bytes | None, base_url: str, generations: dict[int, str | None]) -> None:
    """Root self-signed; each issuing CA signed by it, its key matching, its certificate the recorded one.

    Raises:
        BackupRefused: any link fails.
    """
    try:
        root = load_certificate(CaPaths(ca_dir).root_cert)
        root.verify_directly_issued_by(root)
        if load_private_key(CaPaths(ca_dir).root_key, passphrase).public_key() != root.public_key():
            raise BackupRefused("the root key does not match the root certificate")
        for generation, digest in sorted(generations.items()):
            ca = CertificateAuthority.load(ca_dir, passphrase, base_url, generation)
            ca.issuing_cert.verify_directly_issued_by(root)
            if digest is not None and certificate_sha256(ca.issuing_cert) != digest:
                raise BackupRefused(f"issuing CA {generation} is not the certificate its rollover recorded")
    except CaError as exc:
        raise BackupRefused(f"the CA chain does not verify: {exc.message}") from None
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise BackupRefused(f"the CA chain does not verify: {exc or type(exc).__name__}") from None


def restore(settings: Settings, src: Path, now: datetime, actor: str) -> RestoreReport:
    """Restore the backup at `src` into the configured (new, empty) data dir and database.

    Nothing is written before the manifest checks out; everything written is removed again if
    the CA chain or the audit log fails to verify. The data dir appears only once all passed.

    Raises:
        BackupRefused: a live target, a tampered or foreign backup, a chain or log that fails.
        CaError: the backup's keys cannot be read with CERTGATE_CA_PASSPHRASE.
    """
    _refuse_live_targets(settings)
    src = src.resolve()
    log_key = load_private_key(audit_key_path(src), settings.ca_passphrase)
    if not isinstance(log_key, ec.EllipticCurvePrivateKey):
        raise BackupRefused("the backup's audit-log key is not an ECDSA key")
    manifest = check(src, log_key.public_key())
    if manifest.database != kind_of(settings.database_url):
        raise BackupRefused(f"the backup holds a {manifest.database} database; CERTGATE_DATABASE_URL names another kind")
    target = settings.data_dir
    staging = target.parent / f".{target.name}.restoring-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o700, parents=True)
    db_file = sqlite_path(settings.database_url) if manifest.database == "sqlite" else None
    in_dir = db_file is not None and db_file.parent == target
    staged_db = (staging / db_file.name if in_dir else db_file.with_name(db_file.name + ".restoring")) if db_file else None
    db_url = f"sqlite:///{staged_db}" if staged_db else settings.database_url
    try:
        for name in (*DATA_DIRS, POLICY_DIR):
            if (src / name).is_dir():
                copy_tree(src / name, staging / name)
        if staged_db is not None:
            shutil.copyfile(src / SQLITE_FILE, staged_db)
            os.chmod(staged_db, 0o600)
        else:
            restore_postgres(settings.database_url, src / POSTGRES_FILE)
        report = _verify_and_record(settings, staging, db_url, manifest, log_key, now, actor, src)
        if db_file is not None and staged_db is not None and not in_dir:
            staged_db.rename(db_file)
        if target.exists():
            target.rmdir()
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if staged_db is not None and not in_dir:
            staged_db.unlink(missing_ok=True)
        elif staged_db is None:
            drop_restored(settings.database_url)
        raise
    return RestoreReport(manifest, report[0], report[1], target / manifest.policy_file)


def _verify_and_record(settings: Settings, staging: Path, db_url: str, manifest: Manifest, log_key: ec.EllipticCurvePrivateKey,
                       now: datetime, actor: str, src: Path) -> tuple[int, tuple[int, ...]]:
    """Migrate, verify the chain and the log, drop orphan CA files, then record the restore."""
    upgrade(db_url)  # a backup from an older certgate gets today's schema (never touches the log)
    db = Database(db_url)
    try:
        with db.read() as session:
            rows = {row.id: row.certificate_sha256 for row in session.exec(select(CaGeneration)).all()}
            audit = verify_audit_log(session, log_key.public_key())
        if not audit.ok:
            raise BackupRefused(f"the restored audit log does not verify at entry {audit.first_bad_index}: {audit.problem}")
        generations: dict[int, str | None] = {1: None, **rows}
        verify_chain(staging / "ca", settings.ca_passphrase, settings.base_url, generations)
        for path in (staging / "ca").glob("issuing-*"):  # a rollover that had not committed when the snapshot was taken
            stem = path.name.split(".")[0].removeprefix("issuing-")
            if stem.isdigit() and int(stem) not in rows:
                path.unlink()
        digest = hashlib.sha256((src / MANIFEST).read_bytes()).hexdigest()
        with db.write() as session:
            for state in session.exec(select(CrlState)).all():
                state.crl_number += CRL_NUMBER_JUMP
                state.next_update = now  # re-signed, with the new number, on first use
                session.add(state)
            session.flush()
            append_event(session, event="backup:restored", actor=actor, subject="backup:" + digest[:16], at=now, data={
                "backup_created_at": manifest.created_at.isoformat(), "manifest_sha256": digest,
                "database": manifest.database, "audit_tree_size_restored": audit.tree_size,
                "crl_number_jump": CRL_NUMBER_JUMP})
        return audit.tree_size + 1, tuple(sorted(generations))
    finally:
        db.dispose()
