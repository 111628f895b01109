"""`certgate init`: the data directory, the CA, the database schema and the audit-log key."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from service.audit.treehead import generate_log_key
from service.ca.authority import CertificateAuthority, init_ca
from service.ca.keystore import CaKeyType, write_certificate, write_private_key
from service.ca.ocsp_responder import create_ocsp_responder
from service.process.config import Settings
from service.db.migrate import upgrade

log = logging.getLogger("certgate")


@dataclass(frozen=True)
class InitReport:
    """What `initialize` created this time (False: it was there already, left untouched)."""

    ca_created: bool
    log_key_created: bool
    data_dir: Path


def audit_key_path(data_dir: Path) -> Path:
    """Where the audit log's signing key lives."""
    return data_dir / "audit" / "log-key.pem"


def initialize(settings: Settings, *, key_type: CaKeyType, now: datetime) -> InitReport:
    """Create what is missing and never overwrite what exists (so it is safe to run twice).

    Raises:
        CaError: an existing CA cannot be read with the configured passphrase.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.data_dir, 0o700)
    if settings.ca_passphrase is None:
        log.warning("CERTGATE_CA_PASSPHRASE is not set: CA keys are stored unencrypted (mode 0600)")
    ca_created = init_ca(settings.data_dir / "ca", key_type, settings.ca_passphrase, now, settings.base_url)
    _ensure_ocsp_responder(settings, now)
    key_path = audit_key_path(settings.data_dir)
    log_key_created = not key_path.exists()
    if log_key_created:
        key_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private_key(key_path, generate_log_key(), settings.ca_passphrase)
    upgrade(settings.database_url)
    return InitReport(ca_created, log_key_created, settings.data_dir)


def _ensure_ocsp_responder(settings: Settings, now: datetime) -> None:
    """The delegated OCSP responder (rotated later by the running service when near expiry)."""
    cert_path = settings.data_dir / "ocsp" / "responder.pem"
    key_path = settings.data_dir / "ocsp" / "responder.key.pem"
    if cert_path.exists() and key_path.exists():
        return
    ca = CertificateAuthority.load(settings.data_dir / "ca", settings.ca_passphrase, settings.base_url)
    cert, key = create_ocsp_responder(ca.issuing_cert, ca.issuing_key, now)
    write_private_key(key_path, key, settings.ca_passphrase)
    write_certificate(cert_path, cert)


def is_initialized(settings: Settings) -> bool:
    """True when the CA and the audit key exist (the database is migrated by `initialize`)."""
    return (settings.data_dir / "ca").is_dir() and audit_key_path(settings.data_dir).exists()
