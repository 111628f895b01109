"""Submitting a CSR: verify, judge, then issue, open an exception, or refuse."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlmodel import select

from policies.decision import Decision, Verdict
from service.audit.log import NewEvent, append_events
from service.csr import VerifiedCsr, load_csr, request_facts
from service.db.direct import DirectUnit
from service.db.models import Certificate, CertificateRequest, Review
from service.db.session import Database
from service.ca.authority import IssuedCertificate
from service.errors import CertgateError, NotFound, PolicyRejected
from service.idempotency import IdempotencyKey, Outcome, replay_or_run
from service.idempotency import record as record_key
from service.issuance import Issuer, NewCertificate, insert_certificates
from service.judge import Judge
from service.tokens import Principal
from service.usecases.request_rows import INSERT_REQUEST, INSERT_REVIEW, request_values, review_row, submitted_event


@dataclass(frozen=True)
class Submission:
    """What a requester sent: the CSR bytes and the optional wishes."""

    csr: bytes
    validity_days: int | None = None
    justification: str | None = None
    client_auth: bool = False
    # `csr` already loaded by the edge (ACME's finalize checks its names first): not parsed again
    verified: VerifiedCsr | None = field(default=None, compare=False, repr=False)

    def fingerprint(self) -> dict[str, object]:
        """What an `Idempotency-Key` binds: every field, the CSR by its digest."""
        return {"csr_sha256": hashlib.sha256(self.csr).hexdigest(), "validity_days": self.validity_days,
                "justification": self.justification, "client_auth": self.client_auth}


SUBMIT_SCOPE = "POST /api/v1/requests"


@dataclass(frozen=True)
class RequestRecord:
    """A request with what hangs off it, for the answer."""

    request: CertificateRequest
    certificate: Certificate | None = None
    review: Review | None = None


def dry_run(db: Database, judge: Judge, submission: Submission, actor: Principal, now: datetime) -> Decision:
    """The decision a submission would get; nothing is stored.

    Raises:
        MalformedCsr, CsrSignatureInvalid, PolicyRejected: the CSR cannot be judged at all.
    """
    csr = load_csr(submission.csr)
    with db.direct_read() as reads:
        return judge.decide(request_facts(csr, submission.validity_days), requester=actor.name, reads=reads, now=now)


Recorded = Callable[[DirectUnit, RequestRecord, Decision], None]


def submit_request(
    db: Database, judge: Judge, issuer: Issuer, submission: Submission, actor: Principal, now: datetime,
    *, idempotency_key: str | None = None, on_recorded: Recorded | None = None,
) -> RequestRecord:
    """Judge a CSR and act on the verdict in one transaction with its audit events.

    A policy refusal is stored as a `rejected` request (auditors see refusals) and then raised;
    bytes that are not a verifiable CSR leave nothing behind. The rows are written with direct
    statements (`service.db.direct`): this is the hot path of the service. With an
    `idempotency_key`, a repeat of the same submission by the same requester answers the first
    result again (the same request, its certificate or exception, or its refusal) and writes nothing.
    `on_recorded` runs inside the same transaction, after the rows and events (an edge's own state,
    such as an ACME order, moves with the request or not at all). A batch
    (`service.usecases.batch`) runs the very same three steps for each chunk of items: `examine_chunk`,
    `sign_judged`, `record_judged`.

    Raises:
        MalformedCsr, CsrSignatureInvalid: the body is not a verifiable CSR.
        PolicyRejected: the key or validity breaks the policy (the request is stored as rejected).
        LintFailed: the CA's own profile produced a certificate the linter refuses.
        BadRequest: the idempotency key is not a valid key.
        IdempotencyKeyReused: the key was used before with another submission.
    """
    key = None
    if idempotency_key is not None:
        key = IdempotencyKey.of(actor.name, SUBMIT_SCOPE, idempotency_key, submission.fingerprint())
    return replay_or_run(db, key, now, lambda: _submit(db, judge, issuer, submission, actor, now, key, on_recorded),
                         lambda outcome: replay_request(db, outcome))


def _submit(
    db: Database, judge: Judge, issuer: Issuer, submission: Submission, actor: Principal, now: datetime,
    key: IdempotencyKey | None, on_recorded: Recorded | None = None,
) -> RequestRecord:
    with db.direct_read() as reads:
        judged = examine(judge, submission, actor, reads, now)
    judged = sign_judged(issuer, judge, judged, now)
    with db.direct_write() as unit:
        [record], events = record_judged(unit, judge, [judged], actor, now)
        refused = refusal(judged, record)
        if key is not None:  # before the audit append: a racing twin fails here and replays this one
            record_key(unit, key, now, request_id=record.request.id, answer=refused_answer(refused))
        append_events(unit, events)
        if on_recorded is not None:
            on_recorded(unit, record, judged.decision)
    if refused is not None:
        raise refused
    return record


def refused_answer(refused: PolicyRejected | None) -> dict[str, str] | None:
    """What an idempotency key keeps of a refusal, to raise it again on a replay."""
    return None if refused is None else {"code": refused.code, "message": refused.message}


def replay_request(db: Database, outcome: Outcome) -> RequestRecord:
    """The first result of a repeated submission: its request as it stands, or its refusal again."""
    assert outcome.request_id is not None
    with db.read() as session:
        request = session.get(CertificateRequest, outcome.request_id)
        if request is None:  # requests are never deleted; a key outlives nothing it points at
            raise NotFound(f"no request {outcome.request_id}")
        if outcome.answer is not None:
            raise PolicyRejected(outcome.answer["code"], outcome.answer["message"], request.violations,
                                 request_id=request.id)
        cert = session.exec(select(Certificate).where(Certificate.request_id == request.id)).first()
        review = session.exec(select(Review).where(Review.request_id == request.id)).first()
        return RequestRecord(request, certificate=cert, review=review)


@dataclass(frozen=True)
class Judged:
    """A submission with its verified CSR and its decision; `issued` once signed (verdict issue)."""

    submission: Submission
    csr: VerifiedCsr
    decision: Decision
    issued: IssuedCertificate | None = None


def examine(judge: Judge, submission: Submission, actor: Principal, reads: DirectUnit, now: datetime) -> Judged:
    """Step 1: verify the CSR and judge it (reads the requester's grants and the key blocklist);
    `examine_chunk` with one.

    Raises:
        MalformedCsr, CsrSignatureInvalid: the bytes are not a verifiable CSR.
        PolicyRejected: the CSR cannot be judged at all.
    """
    [judged] = examine_chunk(judge, [submission], actor, reads, now)
    if isinstance(judged, CertgateError):
        raise judged
    return judged


def examine_chunk(
    judge: Judge, chunk: Sequence[Submission], actor: Principal, reads: DirectUnit, now: datetime
) -> list[Judged | CertgateError]:
    """Step 1 for several submissions: each CSR verified and judged, in order, exactly as alone (the
    judge reads for the whole chunk at once); a CSR that cannot be judged comes back as its error.

    Raises:
        CertgateError: a server failure (5xx, such as ServiceUnavailable): no item's own answer.
    """
    loaded: list[tuple[Submission, VerifiedCsr] | CertgateError] = []
    for submission in chunk:
        try:
            loaded.append((submission, submission.verified or load_csr(submission.csr)))
        except CertgateError as exc:
            if exc.status >= 500:
                raise
            loaded.append(exc)
    verified = [item for item in loaded if not isinstance(item, CertgateError)]
    decisions = iter(judge.decide_many([request_facts(csr, s.validity_days) for s, csr in verified],
                                       requester=actor.name, reads=reads, now=now))
    return [item if isinstance(item, CertgateError) else Judged(item[0], item[1], next(decisions)) for item in loaded]


def sign_judged(issuer: Issuer, judge: Judge, judged: Judged, now: datetime) -> Judged:
    """Step 2: sign when the verdict is issue, outside any write transaction (the CPU work never
    holds the database lock); other verdicts pass through unchanged.

    Raises:
        PolicyRejected: the lint refuses a name the requester chose (nothing is stored).
        LintFailed: the CA's own profile produced a certificate the linter refuses.
    """
    decision = judged.decision
    if decision.verdict is not Verdict.ISSUE:
        return judged
    approved = frozenset(f.subject for f in decision.waived)
    issued = issuer.sign(judged.csr, decision, judge.policy, client_auth=judged.submission.client_auth, now=now,
                         approved_ips=approved)
    return replace(judged, issued=issued)


def record_judged(
    unit: DirectUnit, judge: Judge, chunk: Sequence[Judged], actor: Principal, now: datetime
) -> tuple[list[RequestRecord], list[NewEvent]]:
    """Step 3: the rows of every request in `chunk` in `unit`'s transaction, and their audit events,
    in order, for the caller to append in that same transaction (a single submission is a chunk
    of one; a batch records a whole chunk with one statement per table).

    Per item the events are `request:submitted`, then `request:rejected`, `exception:opened` or
    `certificate:issued`.
    """
    values = [request_values(j.csr, j.submission, j.decision, actor, now) for j in chunk]
    unit.insert_many(INSERT_REQUEST, values)
    requests = [CertificateRequest.model_construct(**v) for v in values]
    signed = [_new_certificate(r, j) for r, j in zip(requests, chunk) if j.decision.verdict is Verdict.ISSUE]
    issued = iter(insert_certificates(unit, signed, actor=actor.name, now=now))
    reviews: list[dict[str, Any]] = []
    records: list[RequestRecord] = []
    events: list[NewEvent] = []
    for request, judged in zip(requests, chunk):
        decision = judged.decision
        events.append(submitted_event(request, decision, actor, now))
        if decision.verdict is Verdict.REJECT:
            events.append(NewEvent("request:rejected", actor.name, f"request:{request.id}",
                                   {"codes": [f.code for f in decision.findings]}, now))
            records.append(RequestRecord(request))
        elif decision.verdict is Verdict.EXCEPTION:
            review, opened = review_row(request, decision, judge, actor, now)
            reviews.append(review.model_dump())
            events.append(opened)
            records.append(RequestRecord(request, review=review))
        else:
            cert, issued_event = next(issued)
            events.append(issued_event)
            records.append(RequestRecord(request, certificate=cert))
    unit.insert_many(INSERT_REVIEW, reviews)
    return records, events


def _new_certificate(request: CertificateRequest, judged: Judged) -> NewCertificate:
    assert judged.issued is not None, "sign_judged first"
    return NewCertificate(request, judged.issued, {"grant_id": judged.decision.grant_id, "exception_id": None})


def refusal(judged: Judged, record: RequestRecord) -> PolicyRejected | None:
    """The error a policy refusal answers with (naming the stored, rejected request), else None."""
    decision = judged.decision
    if decision.verdict is not Verdict.REJECT:
        return None
    first = decision.rejections[0]
    return PolicyRejected(first.code, first.message, [f.as_dict() for f in decision.findings],
                          request_id=record.request.id)
