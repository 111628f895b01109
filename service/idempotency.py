"""Idempotency keys (IETF httpapi `Idempotency-Key`): a retried change answers its first result.

A use case that accepts a key calls `replay_or_run`: a key seen before (same caller, same scope,
same body digest) replays what it produced; the same key with another body is refused
(`IdempotencyKeyReused`); a new key runs the use case, which writes the key's row with `record`
inside the very transaction of its state change. The table's unique constraint on
(caller, scope, key) decides races on SQLite and PostgreSQL alike: of two requests carrying one
key, exactly one commits, and the other rolls back everything it did and replays the winner.
Keys are kept `KEEP` (at least 24 hours); expired rows are purged now and then.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import and_, bindparam, delete, select

from service.db.direct import DirectUnit
from service.db.models import IdempotencyRecord, table_of
from service.db.session import Database
from service.errors import BadRequest, Conflict, IdempotencyKeyReused

KEEP = timedelta(hours=24)
PURGE_EVERY = timedelta(minutes=10)
MAX_KEY_LENGTH = 255

T = TypeVar("T")
_TABLE = table_of(IdempotencyRecord)
_SAME_KEY = and_(_TABLE.c.caller == bindparam("caller"), _TABLE.c.scope == bindparam("scope"),
                 _TABLE.c.key == bindparam("key"))
_FIND = select(_TABLE.c.body_sha256, _TABLE.c.request_id, _TABLE.c.answer, _TABLE.c.expires_at).where(_SAME_KEY)
_DROP_EXPIRED_SAME = delete(_TABLE).where(_SAME_KEY, _TABLE.c.expires_at <= bindparam("now"))
_INSERT = _TABLE.insert()


@dataclass(frozen=True)
class IdempotencyKey:
    """One use of a key: who sent it, for which operation (`scope`), and the body's digest."""

    caller: str
    scope: str
    key: str
    body_sha256: str

    @classmethod
    def of(cls, caller: str, scope: str, key: str, body: Mapping[str, Any]) -> IdempotencyKey:
        """A key for `body` (any JSON-able mapping; it is digested in a canonical form).

        Raises:
            BadRequest: the key is empty, too long, or not printable ASCII.
        """
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()
        return cls(caller, scope, parse_key(key), hashlib.sha256(canonical).hexdigest())


@dataclass(frozen=True)
class Outcome:
    """What a key produced the first time: the request it created, and/or a stored answer."""

    request_id: str | None
    answer: dict[str, Any] | None


class KeyTaken(Exception):
    """Another transaction committed this key first (internal: `replay_or_run` answers it)."""


def parse_key(header: str) -> str:
    """The key in an `Idempotency-Key` header: an sf-string (`"..."`) or the bare token.

    Raises:
        BadRequest: empty, longer than 255 characters, or not printable ASCII.
    """
    key = header.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not key or len(key) > MAX_KEY_LENGTH or not all(" " <= ch <= "~" for ch in key):
        raise BadRequest(f"the Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters")
    return key


def recall(unit: DirectUnit, key: IdempotencyKey, now: datetime) -> Outcome | None:
    """What `key` produced, if it was used and has not expired.

    Raises:
        IdempotencyKeyReused: the key was used with another body.
    """
    row = unit.first(_FIND, {"caller": key.caller, "scope": key.scope, "key": key.key})
    if row is None or row[3] <= now:
        return None
    if row[0] != key.body_sha256:
        raise IdempotencyKeyReused("this Idempotency-Key was used with another request body; use a new key")
    return Outcome(request_id=row[1], answer=row[2])


def record(unit: DirectUnit, key: IdempotencyKey, now: datetime, *, request_id: str | None = None,
           answer: dict[str, Any] | None = None) -> None:
    """Write `key`'s row in the caller's transaction; call it before the state change it stands for.

    On PostgreSQL a racing insert of the same key waits here for the first transaction and fails
    once it commits; on SQLite writers are serialised and the loser fails at once.

    Raises:
        KeyTaken: another transaction holds or committed the key (roll back, then replay).
    """
    values = {"caller": key.caller, "scope": key.scope, "key": key.key}
    unit.execute(_DROP_EXPIRED_SAME, {**values, "now": now})
    try:
        unit.insert(_INSERT, {**values, "body_sha256": key.body_sha256, "request_id": request_id, "answer": answer,
                              "created_at": now, "expires_at": now + KEEP})
    except unit.dialect.loaded_dbapi.IntegrityError as exc:
        raise KeyTaken(key.key) from exc


def ensure_unused(unit: DirectUnit, key: IdempotencyKey | None, now: datetime) -> None:
    """Inside a transaction that holds the lock every use of the key takes: stop if it was used.

    Raises:
        KeyTaken: a transaction that held the lock before this one used the key (replay it).
        IdempotencyKeyReused: it was used with another body.
    """
    if key is not None and recall(unit, key, now) is not None:
        raise KeyTaken(key.key)


def replay_or_run(db: Database, key: IdempotencyKey | None, now: datetime, run: Callable[[], T],
                  replay: Callable[[Outcome], T]) -> T:
    """`run()` the use case once per key; a repeated key gets `replay(outcome)` instead.

    `run` must `record` the key in its state-changing transaction.

    Raises:
        IdempotencyKeyReused: the key was used with another body.
        Conflict: the key's first use vanished between the race and the replay (purged).
        whatever `run` or `replay` raise.
    """
    if key is None:
        return run()
    with db.direct_read() as reads:
        seen = recall(reads, key, now)
    if seen is not None:
        return replay(seen)
    try:
        result = run()
    except KeyTaken:
        with db.direct_read() as reads:
            seen = recall(reads, key, now)
        if seen is None:
            raise Conflict("a request with this Idempotency-Key was in flight; retry") from None
        return replay(seen)
    _PURGE.maybe(db, now)
    return result


def purge_expired(db: Database, now: datetime) -> int:
    """Delete every expired key; returns how many."""
    with db.write() as session:
        result = session.connection().execute(delete(_TABLE).where(_TABLE.c.expires_at <= now))
        return int(result.rowcount or 0)


class _PurgeGate:
    """Runs `purge_expired` at most every `PURGE_EVERY` per process, after a key is recorded."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._due: datetime | None = None

    def maybe(self, db: Database, now: datetime) -> None:
        with self._lock:
            if self._due is not None and now < self._due:
                return
            self._due = now + PURGE_EVERY
        purge_expired(db, now)


_PURGE = _PurgeGate()
