"""Submitting many CSRs at once: each item judged exactly as a single submission, chunk by chunk."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from service.audit.log import NewEvent, append_events
from service.db.direct import DirectUnit
from service.db.session import Database
from service.errors import CertgateError
from service.issuance import Issuer
from service.judge import Judge
from service.tokens import Principal
from service.usecases.submit import Judged, RequestRecord, Submission, examine, record_judged, refusal, sign_judged

MAX_BATCH_ITEMS = 1000
CHUNK_ITEMS = 50  # items per write transaction: a crash loses at most one chunk, never part of an item


@dataclass(frozen=True)
class ItemResult:
    """One item's outcome: the stored request, the refusal, or both (a policy refusal is stored)."""

    record: RequestRecord | None = None
    error: CertgateError | None = None


def submit_batch(
    db: Database,
    judge: Judge,
    issuer: Issuer,
    items: Sequence[Submission | CertgateError],
    actor: Principal,
    clock: Callable[[], datetime],
) -> list[ItemResult]:
    """Judge and act on every item, in order, through the single submission's own steps.

    An item the edge could not read arrives as its error and is answered with it. Each chunk of
    `CHUNK_ITEMS` items is examined in one read, signed outside any transaction, and recorded in
    one write transaction with all its audit events, so a failure mid-batch leaves whole items
    only: the chunks before it committed, nothing of the failing chunk. A bad item (not a CSR, a
    refused key, a lint refusal) is answered as such and never touches the others.

    Raises:
        ServiceUnavailable: the database went away (earlier chunks stay committed).
        CaError: the CA cannot sign.
    """
    results: list[ItemResult] = []
    for start in range(0, len(items), CHUNK_ITEMS):
        results += _chunk(db, judge, issuer, items[start:start + CHUNK_ITEMS], actor, clock())
    return results


def _chunk(
    db: Database, judge: Judge, issuer: Issuer, items: Sequence[Submission | CertgateError], actor: Principal,
    now: datetime,
) -> list[ItemResult]:
    with db.direct_read() as reads:
        examined = [item if isinstance(item, CertgateError) else _examined(judge, item, actor, reads, now)
                    for item in items]
    outcomes = [o if isinstance(o, CertgateError) else _signed(issuer, judge, o, now) for o in examined]
    if not any(isinstance(o, Judged) for o in outcomes):
        return [ItemResult(error=o) for o in outcomes if isinstance(o, CertgateError)]
    results: list[ItemResult] = []
    events: list[NewEvent] = []
    with db.direct_write() as unit:
        for outcome in outcomes:
            if isinstance(outcome, CertgateError):
                results.append(ItemResult(error=outcome))
                continue
            record, recorded = record_judged(unit, judge, outcome, actor, now)
            events += recorded
            results.append(ItemResult(record, refusal(outcome, record)))
        append_events(unit, events)
    return results


def _examined(judge: Judge, item: Submission, actor: Principal, reads: DirectUnit, now: datetime) -> Judged | CertgateError:
    try:
        return examine(judge, item, actor, reads, now)
    except CertgateError as exc:
        return _client_error(exc)


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
