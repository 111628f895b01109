"""`certgate init`: the data directory, the CA, the database schema and the audit-log key."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from cryptography import x509

from service.audit.log import append_event
from service.audit.treehead import generate_log_key
from service.ca.authority import CertificateAuthority, init_ca
from service.ca.ceremony import KeyCeremony, init_token_ca
from service.ca.hsm import open_token
from service.ca.keystore import CaKeyType, write_certificate, write_private_key
from service.ca.ocsp_responder import create_ocsp_responder
from service.ca.signer import CaKey
from service.ca.token_key import TokenKey
from service.db.session import Database
from service.errors import CaError
from service.process.config import Settings
from service.db.migrate import upgrade

log = logging.getLogger("certgate")


@dataclass(frozen=True)
class InitReport:
    """What `initialize` created this time (False: it was there already, left untouched)."""

    ca_created: bool
    log_key_created: bool
    data_dir: Path
    ceremony: KeyCeremony | None = None  # `init --hsm`: the keys made in the token, as audited


def audit_key_path(data_dir: Path) -> Path:
    """Where the audit log's signing key lives."""
    return data_dir / "audit" / "log-key.pem"


def initialize(settings: Settings, *, key_type: CaKeyType, now: datetime, hsm: bool = False,
               actor: str = "cli") -> InitReport:
    """Create what is missing and never overwrite what exists (so it is safe to run twice).

    With `hsm`, the CA keys are generated inside the configured PKCS#11 token and the key
    ceremony is recorded in the audit log as `ca:key_ceremony` by `actor`.

    Raises:
        CaError: an existing CA cannot be read with the configured passphrase, `hsm` without a
            configured token, or a key label taken in the token.
        TokenUnavailable: the token is missing, locked or failed.
    """
    if hsm and settings.pkcs11 is None:
        raise CaError("init --hsm needs a token: set CERTGATE_PKCS11_MODULE, CERTGATE_PKCS11_TOKEN "
                      "and CERTGATE_PKCS11_PIN (or CERTGATE_PKCS11_PIN_FILE)")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.data_dir, 0o700)
    ceremony = None
    if hsm and settings.pkcs11 is not None:
        ceremony = init_token_ca(settings.data_dir / "ca", key_type, settings.pkcs11, now, settings.base_url)
        ca_created = ceremony is not None
    else:
        if settings.ca_passphrase is None:
            log.warning("CERTGATE_CA_PASSPHRASE is not set: CA keys are stored unencrypted (mode 0600)")
        ca_created = init_ca(settings.data_dir / "ca", key_type, settings.ca_passphrase, now, settings.base_url)
    responder = _ensure_ocsp_responder(settings, now)
    if ceremony is not None and responder is not None:
        ceremony = replace(ceremony, certificates=(*ceremony.certificates, responder))
    key_path = audit_key_path(settings.data_dir)
    log_key_created = not key_path.exists()
    if log_key_created:
        key_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private_key(key_path, generate_log_key(), settings.ca_passphrase)
    upgrade(settings.database_url)
    if ceremony is not None:
        _record_ceremony(settings, ceremony, actor)
    return InitReport(ca_created, log_key_created, settings.data_dir, ceremony)


def _record_ceremony(settings: Settings, ceremony: KeyCeremony, actor: str) -> None:
    """The `ca:key_ceremony` audit event: who, when, the keys' fingerprints, the certificates made."""
    db = Database(settings.database_url)
    try:
        with db.write() as session:
            append_event(session, event="ca:key_ceremony", actor=actor, subject=f"token:{ceremony.token_label}",
                         data=ceremony.as_audit_data(actor), at=ceremony.at)
    finally:
        db.dispose()


def _ensure_ocsp_responder(settings: Settings, now: datetime) -> x509.Certificate | None:
    """The delegated OCSP responder (rotated later by the running service when near expiry).

    Its key is a file, or the token's key labelled CERTGATE_PKCS11_OCSP_LABEL when set. Returns
    the certificate when one was made now.
    """
    cert_path = settings.data_dir / "ocsp" / "responder.pem"
    key_path = settings.data_dir / "ocsp" / "responder.key.pem"
    token = settings.pkcs11
    # In the token when the CA keys are (no issuing key file) and a responder label is configured.
    label = token.ocsp_label if token is not None and not (settings.data_dir / "ca" / "issuing.key.pem").exists() else None
    if cert_path.exists() and (key_path.exists() or label is not None):
        return None
    ca = CertificateAuthority.load(settings.data_dir / "ca", settings.ca_passphrase, settings.base_url, token=token)
    if token is not None and label is not None:
        session = open_token(token)
        responder_key = TokenKey(session, label, session.public_key(label))
        cert, _ = create_ocsp_responder(ca.issuing_cert, ca.issuing_key, now, key=responder_key)
    else:
        cert, key = create_ocsp_responder(ca.issuing_cert, ca.issuing_key, now)
        assert not isinstance(key, CaKey)  # a new responder key is always made in memory
        write_private_key(key_path, key, settings.ca_passphrase)
    write_certificate(cert_path, cert)
    return cert


def is_initialized(settings: Settings) -> bool:
    """True when the CA and the audit key exist (the database is migrated by `initialize`)."""
    return (settings.data_dir / "ca").is_dir() and audit_key_path(settings.data_dir).exists()
