"""Revoking a certificate: the row, its audit event and a fresh CRL in one transaction."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlmodel import Session, select

from service.audit.log import append_event
from service.db.models import Certificate, CompromisedKey
from service.domain import Role
from service.db.session import Database
from service.errors import BadRequest, Conflict, Forbidden, NotFound
from service.tokens import Principal

REASONS = ("unspecified", "keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation", "privilegeWithdrawn")
REQUESTER_REASONS = ("keyCompromise", "superseded")


class CrlPublisher(Protocol):
    """What revocation needs of the CRL machinery: rebuild the CRL inside a transaction."""

    def regenerate(self, session: Session, now: datetime, generation: int = 1) -> object: ...


def _block_key(session: Session, cert: Certificate, now: datetime) -> None:
    """Remember a compromised key so that no request for it is ever issued again."""
    spki = x509.load_pem_x509_certificate(cert.pem.encode()).public_key().public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    digest = hashlib.sha256(spki).hexdigest()
    if session.get(CompromisedKey, digest) is None:
        session.add(CompromisedKey(spki_sha256=digest, serial_number=cert.serial_number, at=now))
        append_event(session, event="key:blocklisted", actor="system", subject=f"key:{digest}",
                     data={"serial_number": cert.serial_number, "reason": "keyCompromise"}, at=now)


def revoke_certificate(db: Database, crls: CrlPublisher, serial: str, reason: str, actor: Principal, now: datetime) -> Certificate:
    """Revoke `serial` for `reason` (RFC 5280 name); the CRL is rebuilt before commit.

    Raises:
        BadRequest: an unknown or unoffered reason (certificateHold is not offered).
        NotFound: no such certificate.
        Forbidden: a requester revoking another's certificate, or with another reason.
        Conflict: revoked already.
    """
    if reason not in REASONS:
        raise BadRequest(f"reason must be one of {', '.join(REASONS)}")
    serial = serial.lower().replace(":", "")
    with db.write() as session:
        cert = session.exec(select(Certificate).where(Certificate.serial_number == serial).with_for_update()).first()
        if cert is None:
            raise NotFound(f"no certificate with serial {serial}")
        if actor.role != Role.ADMIN:
            if cert.requester != actor.name:
                raise Forbidden("requesters revoke only their own certificates")
            if reason not in REQUESTER_REASONS:
                raise Forbidden(f"requesters revoke with {' or '.join(REQUESTER_REASONS)} only")
        if cert.revoked_at is not None:
            raise Conflict(f"certificate {serial} is revoked already")
        cert.revoked_at, cert.revocation_reason = now, reason
        session.add(cert)
        session.flush()
        append_event(session, event="certificate:revoked", actor=actor.name, subject=f"certificate:{serial}",
                     data={"serial_number": serial, "reason": reason, "request_id": cert.request_id}, at=now)
        if reason == "keyCompromise":
            _block_key(session, cert, now)
        crls.regenerate(session, now, cert.issuer_ca)
        return cert
