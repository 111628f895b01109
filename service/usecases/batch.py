"""Submitting many CSRs at once: each item judged exactly as a single submission, chunk by chunk."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, update
from sqlmodel import col, select

from service.audit.log import NewEvent, append_events
from service.db.direct import DirectUnit
from service.db.models import Approval, Certificate, CertificateRequest, IdempotencyRecord, Review, table_of
from service.db.session import Database
from service.errors import CertgateError, Conflict
from service.idempotency import IdempotencyKey, KeyTaken, recall
from service.idempotency import record as record_key
from service.issuance import Issuer
from service.judge import Judge
from service.tokens import Principal
from service.usecases.submit import Judged, RequestRecord, Submission, examine_chunk, record_judged, refusal, sign_judged

MAX_BATCH_ITEMS = 1000
CHUNK_ITEMS = 50  # items per write transaction: a crash loses at most one chunk, never part of an item
BATCH_SCOPE = "POST /api/v1/batches"


@dataclass(frozen=True)
class ItemResult:
    """One item's outcome: the stored request, the refusal's error body, or both (a policy refusal
    is stored); `approvals` only when replayed (a request made just now has none)."""

    record: RequestRecord | None = None
    error: dict[str, Any] | None = None
    approvals: list[Approval] = field(default_factory=list)


def submit_batch(
    db: Database,
    judge: Judge,
    issuer: Issuer,
    items: Sequence[Submission | CertgateError],
    actor: Principal,
    clock: Callable[[], datetime],
    *,
    key: IdempotencyKey | None = None,
) -> list[ItemResult]:
    """Judge and act on every item, in order, through the single submission's own steps.

    An item the edge could not read arrives as its error and is answered with it. Each chunk of
    `CHUNK_ITEMS` items is examined in one read, signed outside any transaction, and recorded in
    one write transaction with all its audit events, so a failure mid-batch leaves whole items
    only: the chunks before it committed, nothing of the failing chunk. A bad item (not a CSR, a
    refused key, a lint refusal) is answered as such and never touches the others.

    With an idempotency `key`, each chunk's transaction also records the chunk's outcomes under
    the key. A repeat of a finished batch answers the first results again and writes nothing; a
    repeat of a batch that died midway answers the committed items from the store and runs the
    rest, so no item is ever issued twice.

    Raises:
        IdempotencyKeyReused: the key was used with another batch.
        Conflict: a batch with this key is still running (retry later).
        ServiceUnavailable: the database went away (earlier chunks stay committed).
        CaError: the CA cannot sign.
    """
    done: list[dict[str, Any]] = []
    if key is not None:
        with db.direct_read() as reads:
            seen = recall(reads, key, clock())
        done = list(seen.answer["items"]) if seen is not None and seen.answer is not None else []
    results = _replayed(db, done)
    try:
        for start in range(len(done), len(items), CHUNK_ITEMS):
            results += _chunk(db, judge, issuer, items[start:start + CHUNK_ITEMS], actor, clock(), key, done)
    except KeyTaken:
        raise Conflict("a batch with this Idempotency-Key is running; retry later for its answer") from None
    return results


def _chunk(
    db: Database, judge: Judge, issuer: Issuer, items: Sequence[Submission | CertgateError], actor: Principal,
    now: datetime, key: IdempotencyKey | None, done: list[dict[str, Any]],
) -> list[ItemResult]:
    with db.direct_read() as reads:
        judged_chunk = iter(examine_chunk(judge, [i for i in items if isinstance(i, Submission)], actor, reads, now))
    examined = [item if isinstance(item, CertgateError) else next(judged_chunk) for item in items]
    outcomes = [o if isinstance(o, CertgateError) else _signed(issuer, judge, o, now) for o in examined]
    if key is None and not any(isinstance(o, Judged) for o in outcomes):
        return [ItemResult(error=_body(o)) for o in outcomes if isinstance(o, CertgateError)]
    judged = [o for o in outcomes if isinstance(o, Judged)]
    with db.direct_write() as unit:
        records, events = record_judged(unit, judge, judged, actor, now)
        recorded = iter(zip(judged, records))
        results: list[ItemResult] = []
        for outcome in outcomes:
            if isinstance(outcome, CertgateError):
                results.append(ItemResult(error=_body(outcome)))
                continue
            item, record = next(recorded)
            refused = refusal(item, record)
            results.append(ItemResult(record, None if refused is None else _body(refused)))
        if key is not None:  # before the audit append, as a single submission records its key
            _advance(unit, key, done, [_kept(r) for r in results], now)
        append_events(unit, events)
    return results


def _signed(issuer: Issuer, judge: Judge, judged: Judged, now: datetime) -> Judged | CertgateError:
    try:
        return sign_judged(issuer, judge, judged, now)
    except CertgateError as exc:
        return _client_error(exc)


def _client_error(exc: CertgateError) -> CertgateError:
    """A refusal of this one item; a server failure (5xx) is not an item's answer and propagates."""
    if exc.status >= 500:
        raise exc
    return exc


def _body(exc: CertgateError) -> dict[str, Any]:
    """The contract's error body of one item, as the single submission answers it."""
    body: dict[str, Any] = exc.as_body()["error"]
    return body


# The key's progress, kept in its `answer` as {"items": [{"request_id"?, "error"?}, ...]} (service.idempotency).
_KEYS = table_of(IdempotencyRecord)
_SAME = (_KEYS.c.caller == bindparam("caller")) & (_KEYS.c.scope == bindparam("scope")) & (_KEYS.c.key == bindparam("key"))
_LOCK_PROGRESS = select(_KEYS.c.answer).where(_SAME).with_for_update()
_SET_PROGRESS = update(_KEYS).where(_SAME).values(answer=bindparam("progress", type_=_KEYS.c.answer.type))


def _kept(result: ItemResult) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    if result.record is not None:
        kept["request_id"] = result.record.request.id
    if result.error is not None:
        kept["error"] = result.error
    return kept


def _advance(unit: DirectUnit, key: IdempotencyKey, done: list[dict[str, Any]], added: list[dict[str, Any]],
             now: datetime) -> None:
    """Record a chunk's outcomes under the key, in the chunk's transaction; `done` grows with them.

    Raises:
        KeyTaken: another call with this key recorded progress first (this chunk rolls back).
    """
    names = {"caller": key.caller, "scope": key.scope, "key": key.key}
    if not done:
        record_key(unit, key, now, answer={"items": added})
    else:
        row = unit.first(_LOCK_PROGRESS, names)  # PostgreSQL: a twin waits here for our commit
        if row is None or row[0] is None or len(row[0]["items"]) != len(done):
            raise KeyTaken(key.key)
        unit.execute(_SET_PROGRESS, {**names, "progress": {"items": done + added}})
    done += added


def _replayed(db: Database, kept: list[dict[str, Any]]) -> list[ItemResult]:
    """The recorded outcomes again: each request as it stands now, with its certificate or exception."""
    ids = [k["request_id"] for k in kept if "request_id" in k]
    if not ids:
        return [ItemResult(error=k.get("error")) for k in kept]
    requests: dict[str, CertificateRequest] = {}
    certs: dict[str, Certificate] = {}
    reviews: dict[str, Review] = {}
    approvals: dict[str, list[Approval]] = {}
    with db.read() as session:
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            for r in session.exec(select(CertificateRequest).where(col(CertificateRequest.id).in_(part))):
                requests[r.id] = r
            for c in session.exec(select(Certificate).where(col(Certificate.request_id).in_(part))):
                certs[c.request_id] = c
            for v in session.exec(select(Review).where(col(Review.request_id).in_(part))):
                reviews[v.request_id] = v
        review_ids = [r.id for r in reviews.values()]
        if review_ids:
            decided = select(Approval).where(col(Approval.exception_id).in_(review_ids))
            for a in session.exec(decided.order_by(col(Approval.at), col(Approval.id))):
                approvals.setdefault(a.exception_id, []).append(a)
    results: list[ItemResult] = []
    for k in kept:
        rid = k.get("request_id")
        if rid is None:
            results.append(ItemResult(error=k.get("error")))
            continue
        review = reviews.get(rid)
        record = RequestRecord(requests[rid], certificate=certs.get(rid), review=review)
        results.append(ItemResult(record, k.get("error"), approvals.get(review.id, []) if review else []))
    return results
