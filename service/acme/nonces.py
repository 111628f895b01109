"""Replay nonces kept in the database: any worker or instance issues one, the first use deletes it."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete

from service.db.acme_models import AcmeNonce
from service.db.models import table_of
from service.db.session import Database
from service.db.types import UtcDateTime

NONCE_TTL = timedelta(hours=1)
_PRUNE_ONE_IN = 200  # expired nonces are swept by every 200th issue, not by a timer

_NONCES = table_of(AcmeNonce)
_INSERT = _NONCES.insert()
_CONSUME = (delete(_NONCES).where(_NONCES.c.value == bindparam("value"),
                                  _NONCES.c.expires_at > bindparam("now", type_=UtcDateTime()))
            .returning(_NONCES.c.value))
_PRUNE = (delete(_NONCES).where(_NONCES.c.expires_at <= bindparam("now", type_=UtcDateTime()))
          .returning(_NONCES.c.value))


def issue_nonce(db: Database, now: datetime) -> str:
    """A fresh nonce, stored until it is used or expires."""
    value = secrets.token_urlsafe(16)
    with db.direct_write() as unit:
        unit.insert(_INSERT, {"value": value, "expires_at": now + NONCE_TTL})
        if secrets.randbelow(_PRUNE_ONE_IN) == 0:
            unit.rows(_PRUNE, {"now": now})
    return value


def exchange_nonce(db: Database, value: str, now: datetime) -> str | None:
    """Use a nonce up and store the next one in the same transaction: the next nonce, or None when
    `value` was unknown, used or expired (one DELETE decides, whichever worker or instance runs it)."""
    if len(value) > 64:
        return None
    fresh = secrets.token_urlsafe(16)
    with db.direct_write() as unit:
        if not unit.rows(_CONSUME, {"value": value, "now": now}):
            return None
        unit.insert(_INSERT, {"value": fresh, "expires_at": now + NONCE_TTL})
    return fresh
