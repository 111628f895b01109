"""Authorizations and challenges: reading them, a client's go-ahead, and recording a validation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, bindparam, or_, select as core_select, update
from sqlmodel import Session

from service.acme.orders import owned_order
from service.acme.problems import AcmeProblem
from service.acme.reads import authz_with_owner, challenge_by_id, challenges_of, validation_input
from service.audit.log import NewEvent, append_events
from service.db.acme_models import AcmeAccount, AcmeAuthorization, AcmeChallenge, AcmeOrder
from service.db.models import table_of
from service.db.session import Database
from service.db.types import UtcDateTime

CLAIM_SECONDS = 30  # a claimed challenge returns to the pool if its validator died
_CHALLENGES = table_of(AcmeChallenge)
_UNCLAIMED = (_CHALLENGES.c.status == "processing",
              or_(_CHALLENGES.c.claimed_until.is_(None), _CHALLENGES.c.claimed_until < bindparam("now", type_=UtcDateTime())))
# One statement claims any waiting challenge; on PostgreSQL, SKIP LOCKED lets validators of other
# instances pass over a row being claimed (SQLite writers are serialised and render no FOR UPDATE).
_CLAIM = (update(_CHALLENGES)
          .where(_CHALLENGES.c.id == core_select(_CHALLENGES.c.id).where(*_UNCLAIMED).limit(1)
                 .with_for_update(skip_locked=True).scalar_subquery(), *_UNCLAIMED)
          .values(claimed_until=bindparam("until", type_=UtcDateTime()))
          .returning(_CHALLENGES.c.id))
_AUTHZ, _ORDERS = table_of(AcmeAuthorization), table_of(AcmeOrder)
_TARGET = (core_select(_CHALLENGES.c.authz_id, _AUTHZ.c.order_id, _CHALLENGES.c.type)
           .join(_AUTHZ, _AUTHZ.c.id == _CHALLENGES.c.authz_id).where(_CHALLENGES.c.id == bindparam("challenge_id")))
_LOCK_ORDER = core_select(_ORDERS.c.id).where(_ORDERS.c.id == bindparam("order_id")).with_for_update()
_FINISH = (update(_CHALLENGES).where(_CHALLENGES.c.id == bindparam("challenge_id"), _CHALLENGES.c.status == "processing")
           .values(status=bindparam("result"), validated_at=bindparam("now", type_=UtcDateTime()), claimed_until=None,
                   error=bindparam("error", type_=JSON()), record=bindparam("record", type_=JSON()))
           .returning(_CHALLENGES.c.id))
_SET_AUTHZ = (update(_AUTHZ).where(_AUTHZ.c.id == bindparam("authz_id")).values(status=bindparam("result"))
              .returning(_AUTHZ.c.id))
_INVALIDATE_ORDER = (update(_ORDERS)
                     .where(_ORDERS.c.id == bindparam("order_id"), or_(_ORDERS.c.status == "pending", _ORDERS.c.status == "ready"))
                     .values(status="invalid", error=bindparam("error", type_=JSON())).returning(_ORDERS.c.id))
_OTHER_PENDING = (core_select(_AUTHZ.c.id).where(_AUTHZ.c.order_id == _ORDERS.c.id, _AUTHZ.c.status != "valid")
                  .correlate(_ORDERS).exists())
_READY_ORDER = (update(_ORDERS).where(_ORDERS.c.id == bindparam("order_id"), _ORDERS.c.status == "pending", ~_OTHER_PENDING)
                .values(status="ready").returning(_ORDERS.c.id))
_START = (update(_CHALLENGES).where(_CHALLENGES.c.id == bindparam("challenge_id"), _CHALLENGES.c.status == "pending")
          .values(status="processing").returning(_CHALLENGES.c.id))
# Started and claimed at once, for a validator that is idle in this process (no round trip through the pool).
_START_CLAIMED = (update(_CHALLENGES).where(_CHALLENGES.c.id == bindparam("challenge_id"), _CHALLENGES.c.status == "pending")
                  .values(status="processing", claimed_until=bindparam("until", type_=UtcDateTime()))
                  .returning(_CHALLENGES.c.id))


@dataclass(frozen=True)
class AuthzView:
    """An authorization with its challenges."""

    authz: AcmeAuthorization
    status: str
    challenges: tuple[AcmeChallenge, ...]


@dataclass(frozen=True)
class Claimed:
    """A challenge one validator has claimed, with what validating it needs."""

    challenge_id: str
    type: str
    kind: str
    value: str
    token: str
    thumbprint: str


def owned_authz(session: Session, account: AcmeAccount, authz_id: str) -> AcmeAuthorization:
    """The account's authorization.

    Raises:
        AcmeProblem: 404, unauthorized.
    """
    authz = session.get(AcmeAuthorization, authz_id)
    if authz is None:
        raise AcmeProblem("malformed", "no such authorization", status=404)
    owned_order(session, account, authz.order_id)
    return authz


def read_authz(db: Database, account: AcmeAccount, authz_id: str, now: datetime) -> AuthzView:
    """The account's authorization as it stands, in one direct read (clients poll it).

    Raises:
        AcmeProblem: 404, unauthorized.
    """
    with db.direct_read() as reads:
        found = authz_with_owner(reads, authz_id)
        if found is None:
            raise AcmeProblem("malformed", "no such authorization", status=404)
        authz, owner = found
        if owner != account.id:
            raise AcmeProblem("unauthorized", "the authorization belongs to another account")
        return _as_of(authz, challenges_of(reads, authz_id), now)


def _as_of(authz: AcmeAuthorization, challenges: tuple[AcmeChallenge, ...], now: datetime) -> AuthzView:
    status = "expired" if authz.status == "pending" and authz.expires_at <= now else authz.status
    return AuthzView(authz, status, challenges)


def owned_challenge(session: Session, account: AcmeAccount, challenge_id: str) -> tuple[AcmeChallenge, str]:
    """The account's challenge and its authorization's id.

    Raises:
        AcmeProblem: 404, unauthorized.
    """
    challenge = session.get(AcmeChallenge, challenge_id)
    if challenge is None:
        raise AcmeProblem("malformed", "no such challenge", status=404)
    return challenge, owned_authz(session, account, challenge.authz_id).id


def respond(db: Database, account: AcmeAccount, challenge_id: str, now: datetime,
            claim: bool = False) -> tuple[AcmeChallenge, str, Claimed | None]:
    """The client says the response is in place: the challenge waits for a validator.

    With `claim` (this process' validator is idle), the transaction that starts the challenge also
    claims it, as `claim_next` would, and returns what validating it needs: the caller hands that
    to its validator. Should this process die first, the claim lapses and any validator takes it.

    Raises:
        AcmeProblem: 404, unauthorized, malformed (the authorization is no longer pending).
    """
    claimed = None
    with db.direct_write() as unit:
        challenge = challenge_by_id(unit, challenge_id)
        if challenge is None:
            raise AcmeProblem("malformed", "no such challenge", status=404)
        found = authz_with_owner(unit, challenge.authz_id)
        assert found is not None  # a foreign key guarantees it
        authz, owner = found
        if owner != account.id:
            raise AcmeProblem("unauthorized", "the challenge belongs to another account")
        if challenge.status == "pending":
            if _as_of(authz, (), now).status != "pending":
                raise AcmeProblem("malformed", f"the authorization is {authz.status}", status=400)
            until = now + timedelta(seconds=CLAIM_SECONDS)
            if unit.rows(_START_CLAIMED if claim else _START, {"challenge_id": challenge.id, "until": until}):
                challenge = challenge.model_copy(update={"status": "processing", "claimed_until": until if claim else None})
                if claim:
                    claimed = Claimed(challenge.id, challenge.type, authz.kind, authz.value, challenge.token, account.thumbprint)
                append_events(unit, [NewEvent("acme:challenge_started", account.requester, f"acme-challenge:{challenge.id}",
                                              {"type": challenge.type, "identifier": {"type": authz.kind, "value": authz.value}},
                                              now)])
        return challenge, authz.id, claimed


def current_challenge(db: Database, challenge_id: str) -> AcmeChallenge:
    """A challenge as it stands now (one the caller has already found and owns)."""
    with db.direct_read() as reads:
        challenge = challenge_by_id(reads, challenge_id)
    assert challenge is not None  # challenges are never deleted
    return challenge


def claim_next(db: Database, now: datetime) -> Claimed | None:
    """Claim one challenge waiting for validation (any worker, any instance: one wins each), in one transaction."""
    with db.direct_write() as unit:
        won = unit.rows(_CLAIM, {"now": now, "until": now + timedelta(seconds=CLAIM_SECONDS)})
        return Claimed(*validation_input(unit, won[0][0])) if won else None


def record_validation(db: Database, claimed: Claimed, problem: dict[str, Any] | None, hops: list[dict[str, Any]],
                      now: datetime) -> dict[str, Any] | None:
    """The validation's outcome: challenge, authorization and (when all are valid) the order move together.

    Returns the challenge's columns as recorded (None when another validator had finished it).

    The order row is locked first, so two authorizations of one order validated at once by two
    workers serialise, and the second sees the first's result when it decides on `ready`.
    """
    result = "invalid" if problem else "valid"
    with db.direct_write() as unit:
        target = unit.first(_TARGET, {"challenge_id": claimed.challenge_id})
        assert target is not None  # foreign keys
        authz_id, order_id, challenge_type = target
        unit.rows(_LOCK_ORDER, {"order_id": order_id})
        if not unit.rows(_FINISH, {"challenge_id": claimed.challenge_id, "result": result, "now": now, "error": problem,
                                   "record": hops}):
            return None  # another validator finished it first
        unit.rows(_SET_AUTHZ, {"authz_id": authz_id, "result": result})
        if problem is not None:
            unit.rows(_INVALIDATE_ORDER, {"order_id": order_id, "error": problem})
        else:
            unit.rows(_READY_ORDER, {"order_id": order_id})
        append_events(unit, [NewEvent("acme:challenge_validated", "system", f"acme-challenge:{claimed.challenge_id}",
                                      {"result": result, "type": challenge_type, "order_id": order_id,
                                       "identifier": {"type": claimed.kind, "value": claimed.value}, "fetched": hops,
                                       "problem": problem}, now)])
    return {"status": result, "validated_at": now.astimezone(UTC), "claimed_until": None, "error": problem, "record": hops}
