"""ACME accounts: creation with External Account Binding, lookup by kid, update, deactivation, key change."""

from __future__ import annotations

import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from josepy.jwk import JWK
from sqlmodel import Session, select

from policies.config import KeyLimits
from service.acme.jws import SignedRequest, b64decode, jwk_of, load_key, parse, split, thumbprint, verify, verify_mac
from service.acme.problems import AcmeProblem
from service.audit.log import append_event
from service.db.acme_models import AcmeAccount, AcmeEabKey
from service.db.session import Database
from service.domain import Role
from service.tokens import Principal

VALID, DEACTIVATED, REVOKED = "valid", "deactivated", "revoked"


@dataclass(frozen=True)
class NewAccount:
    """What new-account asked for, with the verified outer key."""

    key: JWK
    payload: dict[str, Any]
    url: str  # the new-account URL, which the EAB JWS must name


def principal_of(account: AcmeAccount) -> Principal:
    """The account acts as its requester, everywhere."""
    return Principal(account.requester, Role.REQUESTER)


def find_by_key(session: Session, key: JWK) -> AcmeAccount | None:
    """The account registered with this key, if any."""
    return session.exec(select(AcmeAccount).where(AcmeAccount.thumbprint == thumbprint(key))).first()


def _contact(payload: dict[str, Any]) -> list[str]:
    contact = payload.get("contact", [])
    if not isinstance(contact, list) or not all(isinstance(c, str) and c.startswith("mailto:") and len(c) < 300 for c in contact):
        raise AcmeProblem("malformed", "contact is a list of mailto: URLs")
    return list(contact)


def create_account(db: Database, request: NewAccount, *, require_eab: bool, now: datetime) -> tuple[AcmeAccount, bool]:
    """The account for this key: the existing one (False) or a new one bound to a requester (True).

    Raises:
        AcmeProblem: accountDoesNotExist (onlyReturnExisting), externalAccountRequired,
            unauthorized (EAB key unknown, used, revoked, or its MAC fails), malformed.
    """
    with db.write() as session:
        existing = find_by_key(session, request.key)
        if existing is not None:
            return existing, False
        if request.payload.get("onlyReturnExisting") is True:
            raise AcmeProblem("accountDoesNotExist", "no account has this key")
        contact = _contact(request.payload)
        account_id = str(uuid.uuid4())
        binding = request.payload.get("externalAccountBinding")
        eab: AcmeEabKey | None = None
        if binding is not None:
            eab = _bound_key(session, binding, request)
        elif require_eab:
            raise AcmeProblem("externalAccountRequired", "an externalAccountBinding is required: ask the CA's "
                                                         "operators for a key id and HMAC key")
        requester = eab.requester if eab is not None else f"acme:{account_id}"
        account = AcmeAccount(id=account_id, thumbprint=thumbprint(request.key), jwk=request.key.to_partial_json(),
                              requester=requester, status=VALID, contact=contact,
                              eab_kid=eab.kid if eab is not None else None, created_at=now)
        session.add(account)
        if eab is not None:
            eab.account_id = account_id
            session.add(eab)
        append_event(session, event="acme:account_created", actor=requester, subject=f"acme-account:{account_id}",
                     data={"eab_kid": account.eab_kid, "requester": requester, "key_thumbprint": account.thumbprint},
                     at=now)
        return account, True


def _bound_key(session: Session, binding: object, request: NewAccount) -> AcmeEabKey:
    """The unused EAB key whose MAC over the account key checks out (RFC 8555 §7.3.4).

    Raises:
        AcmeProblem: malformed, unauthorized.
    """
    header, payload, signing_input, signature = split(binding)
    if header.get("alg") != "HS256" or "nonce" in header or header.get("url") != request.url:
        raise AcmeProblem("malformed", "the EAB JWS needs alg HS256, the new-account url and no nonce")
    kid = header.get("kid")
    try:
        bound = jwk_of(json.loads(payload), "malformed")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise AcmeProblem("malformed", "the EAB payload is not a JWK") from exc
    if thumbprint(bound) != thumbprint(request.key):
        raise AcmeProblem("malformed", "the EAB payload is not the account key")
    key = session.exec(select(AcmeEabKey).where(AcmeEabKey.kid == kid).with_for_update()).first() \
        if isinstance(kid, str) else None
    if key is None or key.revoked_at is not None or key.account_id is not None:
        raise AcmeProblem("unauthorized", "the EAB key id is unknown, revoked or used already")
    if not verify_mac(signing_input, signature, b64decode(key.hmac_key, "the stored HMAC key")):
        raise AcmeProblem("unauthorized", "the EAB MAC does not verify with that key id")
    return key


def update_account(db: Database, account_id: str, payload: dict[str, Any], now: datetime) -> AcmeAccount:
    """Change the contact, or deactivate the account (for good).

    Raises:
        AcmeProblem: malformed (status other than deactivated), unauthorized (not valid).
    """
    with db.write() as session:
        account = session.exec(select(AcmeAccount).where(AcmeAccount.id == account_id).with_for_update()).one()
        if account.status != VALID:
            raise AcmeProblem("unauthorized", f"the account is {account.status}")
        if "status" in payload and payload["status"] != DEACTIVATED:
            raise AcmeProblem("malformed", "an account may only be set to deactivated")
        if "contact" in payload:
            account.contact = _contact(payload)
        if payload.get("status") == DEACTIVATED:
            account.status = DEACTIVATED
            append_event(session, event="acme:account_deactivated", actor=account.requester,
                         subject=f"acme-account:{account.id}", data={}, at=now)
        session.add(account)
        return account


def change_key(db: Database, account: AcmeAccount, outer: SignedRequest, accounts_url: str, limits: KeyLimits,
               now: datetime) -> AcmeAccount:
    """Roll the account over to the key that signed the inner JWS (RFC 8555 §7.3.5).

    Raises:
        AcmeProblem: malformed (inner JWS, url, oldKey), badPublicKey, conflict (409, the key
            belongs to another account, whose URL is the `location`).
    """
    inner = parse(outer.payload, inner=True)
    if inner.url != outer.url:
        raise AcmeProblem("malformed", "the inner JWS must name the same url as the outer one")
    assert inner.jwk is not None
    new_key = load_key(inner.jwk, limits)
    verify(inner, new_key)
    body = inner.payload_json()
    old_key = jwk_of(body.get("oldKey"), "malformed")
    if body.get("account") != accounts_url + account.id or thumbprint(old_key) != account.thumbprint:
        raise AcmeProblem("malformed", "account and oldKey must be this account's url and current key")
    with db.write() as session:
        other = find_by_key(session, new_key)
        if other is not None:
            raise AcmeProblem("malformed", "the new key belongs to an account already", status=409,
                              location=accounts_url + other.id)
        row = session.exec(select(AcmeAccount).where(AcmeAccount.id == account.id).with_for_update()).one()
        if not hmac.compare_digest(row.thumbprint, account.thumbprint):
            raise AcmeProblem("malformed", "the account key changed meanwhile", status=409)
        old_thumbprint, row.thumbprint, row.jwk = row.thumbprint, thumbprint(new_key), new_key.to_partial_json()
        session.add(row)
        append_event(session, event="acme:account_key_changed", actor=row.requester, subject=f"acme-account:{row.id}",
                     data={"old_thumbprint": old_thumbprint, "new_thumbprint": row.thumbprint}, at=now)
        return row
