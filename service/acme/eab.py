"""External Account Binding keys (RFC 8555 §7.3.4) and ARI mass-replacement marks: the operator's side."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from sqlmodel import Session, col, select

from service.audit.log import append_event
from service.db.acme_models import AcmeAccount, AcmeEabKey, AcmeRenewalMark
from service.errors import BadRequest, Conflict, NotFound


@dataclass(frozen=True)
class EabCredentials:
    """A new key id and its HMAC key (base64url), shown once."""

    kid: str
    hmac_key: str


def create_eab_key(session: Session, *, requester: str, actor: str, now: datetime) -> EabCredentials:
    """A new EAB key for `requester`: the one ACME account made with it acts as them.

    Raises:
        BadRequest: the requester name is empty or too long.
    """
    if not requester or len(requester) > 200 or requester.startswith("acme:"):
        raise BadRequest("a requester name is 1 to 200 characters and does not start with 'acme:'")
    key = AcmeEabKey(kid=secrets.token_hex(16), requester=requester, hmac_key=_hmac_key(),
                     created_at=now, created_by=actor)
    session.add(key)
    append_event(session, event="acme:eab_created", actor=actor, subject=f"acme-eab:{key.kid}",
                 data={"requester": requester}, at=now)
    return EabCredentials(key.kid, key.hmac_key)


def _hmac_key() -> str:
    """256 random bits, base64url; never starting with '-', which command lines read as an option."""
    while (key := secrets.token_urlsafe(32)).startswith("-"):
        pass
    return key


def list_eab_keys(session: Session) -> list[AcmeEabKey]:
    """Every EAB key, oldest first (the HMAC keys are for the caller not to print)."""
    return list(session.exec(select(AcmeEabKey).order_by(col(AcmeEabKey.created_at))).all())


def revoke_eab_key(session: Session, *, kid: str, actor: str, now: datetime) -> AcmeEabKey:
    """Revoke a key; the account bound with it is revoked too (it acted on the key's authority).

    Raises:
        NotFound, Conflict (revoked already).
    """
    key = session.get(AcmeEabKey, kid)
    if key is None:
        raise NotFound(f"no EAB key {kid}")
    if key.revoked_at is not None:
        raise Conflict(f"EAB key {kid} is revoked already")
    key.revoked_at = now
    session.add(key)
    if key.account_id is not None:
        account = session.get(AcmeAccount, key.account_id)
        if account is not None:
            account.status = "revoked"
            session.add(account)
    append_event(session, event="acme:eab_revoked", actor=actor, subject=f"acme-eab:{kid}",
                 data={"requester": key.requester, "account_id": key.account_id}, at=now)
    return key


def issuer_key_id(issuing_cert: x509.Certificate) -> str:
    """The issuing CA's subject key identifier, hex: what its certificates' AKI names (ARI's certID)."""
    ski = issuing_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return ski.digest.hex()


def mark_renew_all(session: Session, *, issuing_cert: x509.Certificate, reason: str, actor: str, now: datetime) -> None:
    """Tell every ACME client to renew now each certificate of this issuer issued so far (ARI).

    Raises:
        BadRequest: no reason.
    """
    if not reason.strip():
        raise BadRequest("a reason is required")
    mark = AcmeRenewalMark(issuer_key_id=issuer_key_id(issuing_cert), reason=reason, at=now, created_by=actor)
    session.add(mark)
    append_event(session, event="acme:renew_all", actor=actor, subject=f"ca:{mark.issuer_key_id}",
                 data={"reason": reason}, at=now)
