"""API tokens: created once, shown once, stored as SHA-256, checked in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam
from sqlmodel import Session, col, func, select

from service.audit.log import append_event
from service.db.direct import DirectUnit
from service.db.models import ApiToken, table_of
from service.domain import Role
from service.errors import BadRequest, Conflict, NotFound, Unauthorized

TOKEN_PREFIX = "cg_"
_TOKENS = table_of(ApiToken)
_BY_HASH = (select(_TOKENS.c.name, _TOKENS.c.role, _TOKENS.c.token_hash, _TOKENS.c.revoked_at)
            .where(_TOKENS.c.token_hash == bindparam("digest")))


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's name (the actor in the audit log) and its role."""

    name: str
    role: Role


def hash_token(secret: str) -> str:
    """The stored form of a token. Tokens are 256-bit random, so a plain SHA-256 suffices."""
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(session: Session, *, name: str, role: Role, actor: str, now: datetime) -> str:
    """Store a new token's hash and return the secret (shown once, never stored).

    Raises:
        BadRequest: the name is empty or too long.
        Conflict: a token with this name exists.
    """
    if not name or len(name) > 200:
        raise BadRequest("a token name is 1 to 200 characters")
    if session.exec(select(ApiToken).where(ApiToken.name == name)).first() is not None:
        raise Conflict(f"a token named {name!r} exists")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(name=name, role=role.value, token_hash=hash_token(secret), created_at=now))
    append_event(session, event="token:created", actor=actor, subject=f"token:{name}", data={"role": role.value}, at=now)
    return secret


def revoke_token(session: Session, *, name: str, actor: str, now: datetime) -> None:
    """Revoke a token by name.

    Raises:
        NotFound: no such token.
        Conflict: it is revoked already.
    """
    token = session.exec(select(ApiToken).where(ApiToken.name == name)).first()
    if token is None:
        raise NotFound(f"no token named {name!r}")
    if token.revoked_at is not None:
        raise Conflict(f"token {name!r} is revoked already")
    token.revoked_at = now
    session.add(token)
    append_event(session, event="token:revoked", actor=actor, subject=f"token:{name}", data={}, at=now)


def authenticate(reads: DirectUnit, secret: str) -> Principal:
    """The principal a bearer secret stands for.

    Raises:
        Unauthorized: unknown or revoked token.
    """
    digest = hash_token(secret)
    # Core, not ORM: this runs on every request. The lookup is by hash, so its timing says
    # nothing about the secret; the constant-time compare is belt and braces.
    row = reads.first(_BY_HASH, {"digest": digest})
    if row is None:
        raise Unauthorized("the token is unknown or revoked")
    name, role, token_hash, revoked_at = row
    if not hmac.compare_digest(token_hash, digest) or revoked_at is not None:
        raise Unauthorized("the token is unknown or revoked")
    return Principal(name, Role(role))


@dataclass(frozen=True)
class TokenSummary:
    """A token as an admin sees it in a list: never the secret, never its hash."""

    id: int
    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None


def sign_in(reads: DirectUnit, secret: str) -> tuple[int, Principal]:
    """The token id and principal a secret stands for (a console session keeps the id, not the secret).

    Raises:
        Unauthorized: unknown or revoked token.
    """
    principal = authenticate(reads, secret)
    row = reads.first(select(_TOKENS.c.id).where(_TOKENS.c.token_hash == bindparam("digest")), {"digest": hash_token(secret)})
    if row is None:
        raise Unauthorized("the token is unknown or revoked")
    return int(row[0]), principal


def principal_by_id(reads: DirectUnit, token_id: int) -> Principal:
    """The principal of a token still in force, by id (checked on every console request).

    Raises:
        Unauthorized: no such token, or it was revoked since.
    """
    row = reads.first(select(_TOKENS.c.name, _TOKENS.c.role, _TOKENS.c.revoked_at).where(_TOKENS.c.id == bindparam("tid")),
                      {"tid": token_id})
    if row is None or row[2] is not None:
        raise Unauthorized("the token is unknown or revoked")
    return Principal(row[0], Role(row[1]))


def list_tokens(session: Session, *, page: int, per_page: int) -> tuple[list[TokenSummary], int]:
    """One page of tokens, newest first, and the total."""
    rows = session.exec(select(ApiToken).order_by(col(ApiToken.id).desc()).offset((page - 1) * per_page).limit(per_page)).all()
    total = session.exec(select(func.count()).select_from(ApiToken)).one()
    return [TokenSummary(r.id or 0, r.name, Role(r.role), r.created_at, r.revoked_at) for r in rows], total
