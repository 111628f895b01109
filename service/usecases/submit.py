"""Submitting a CSR: verify, judge, then issue, open an exception, or refuse."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.serialization import Encoding

from policies.decision import Decision, Verdict
from service.audit.log import NewEvent, append_events
from service.csr import VerifiedCsr, load_csr, request_facts
from service.db.direct import DirectUnit
from service.db.models import Certificate, CertificateRequest, Review, table_of
from service.domain import RequestStatus, ReviewStatus
from service.db.session import Database
from service.errors import PolicyRejected
from service.issuance import Issuer, record_certificate
from service.judge import Judge
from service.tokens import Principal


@dataclass(frozen=True)
class Submission:
    """What a requester sent: the CSR bytes and the optional wishes."""

    csr: bytes
    validity_days: int | None = None
    justification: str | None = None
    client_auth: bool = False


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
    *, on_recorded: Recorded | None = None,
) -> RequestRecord:
    """Judge a CSR and act on the verdict in one transaction with its audit events.

    A policy refusal is stored as a `rejected` request (auditors see refusals) and then raised;
    bytes that are not a verifiable CSR leave nothing behind. The rows are written with direct
    statements (`service.db.direct`): this is the hot path of the service. `on_recorded` runs
    inside the same transaction, after the rows (an edge's own state, such as an ACME order,
    moves with the request or not at all).

    Raises:
        MalformedCsr, CsrSignatureInvalid: the body is not a verifiable CSR.
        PolicyRejected: the key or validity breaks the policy (the request is stored as rejected).
        LintFailed: the CA's own profile produced a certificate the linter refuses.
    """
    csr = load_csr(submission.csr)
    facts = request_facts(csr, submission.validity_days)
    with db.direct_read() as reads:
        decision = judge.decide(facts, requester=actor.name, reads=reads, now=now)
    issued = None
    if decision.verdict is Verdict.ISSUE:
        # Sign outside the write transaction: the CPU work never holds the database lock.
        approved = frozenset(f.subject for f in decision.waived)
        issued = issuer.sign(csr, decision, judge.policy, client_auth=submission.client_auth, now=now, approved_ips=approved)
    request = _request_row(csr, submission, decision, actor, now)
    with db.direct_write() as unit:
        unit.insert(_INSERT_REQUEST, request.model_dump())
        submitted = _submitted_event(request, decision, actor, now)
        if decision.verdict is Verdict.REJECT:
            append_events(unit, [submitted, NewEvent("request:rejected", actor.name, f"request:{request.id}",
                                                     {"codes": [f.code for f in decision.findings]}, now)])
            record = RequestRecord(request)
        elif decision.verdict is Verdict.EXCEPTION:
            record = RequestRecord(request, review=_open_review(unit, request, decision, judge, actor, now, submitted))
        else:
            assert issued is not None
            cert = record_certificate(unit, request, issued, actor=actor.name, now=now,
                                      cause={"grant_id": decision.grant_id, "exception_id": None}, preceded_by=[submitted])
            record = RequestRecord(request, certificate=cert)
        if on_recorded is not None:
            on_recorded(unit, record, decision)
    if decision.verdict is Verdict.REJECT:
        first = decision.rejections[0]
        raise PolicyRejected(first.code, first.message, [f.as_dict() for f in decision.findings], request_id=request.id)
    return record


_INSERT_REQUEST = table_of(CertificateRequest).insert()
_INSERT_REVIEW = table_of(Review).insert()
_STATUS = {Verdict.ISSUE: RequestStatus.ISSUED, Verdict.REJECT: RequestStatus.REJECTED,
           Verdict.EXCEPTION: RequestStatus.PENDING_EXCEPTION}


def _request_row(
    csr: VerifiedCsr, submission: Submission, decision: Decision, actor: Principal, now: datetime
) -> CertificateRequest:
    """The request as it is stored (built unvalidated: every value comes from checked data)."""
    final = decision.verdict is not Verdict.EXCEPTION
    return CertificateRequest.model_construct(
        id=str(uuid.uuid4()),
        requester=actor.name,
        status=_STATUS[decision.verdict],
        csr_pem=csr.csr.public_bytes(Encoding.PEM).decode(),
        csr_sha256=csr.sha256,
        common_name=csr.common_name,
        named_ips=list(decision.named_ips),
        violations=[f.as_dict() for f in decision.findings],
        waived=[f.as_dict() for f in decision.waived] if decision.verdict is Verdict.ISSUE else [],
        policy_version=decision.policy_version,
        validity_days=decision.validity_days,
        client_auth=submission.client_auth,
        justification=submission.justification,
        grant_id=decision.grant_id,
        created_at=now,
        decided_at=now if final else None,
    )


def _submitted_event(request: CertificateRequest, decision: Decision, actor: Principal, now: datetime) -> NewEvent:
    return NewEvent(
        event="request:submitted",
        actor=actor.name,
        subject=f"request:{request.id}",
        data={
            "csr_sha256": request.csr_sha256,
            "verdict": decision.verdict.value,
            "violations": [f.as_dict() for f in decision.findings],
            "waived": [f.as_dict() for f in decision.waived],
            "grant_id": decision.grant_id,
            "policy_version": decision.policy_version,
            "named_ips": list(decision.named_ips),
            "validity_days": decision.validity_days,
        },
        at=now,
    )


def _open_review(
    unit: DirectUnit, request: CertificateRequest, decision: Decision, judge: Judge, actor: Principal, now: datetime,
    submitted: NewEvent,
) -> Review:
    review = Review.model_construct(
        id=str(uuid.uuid4()),
        request_id=request.id,
        requester=actor.name,
        status=ReviewStatus.PENDING,
        violations=[f.as_dict() for f in decision.exceptions],
        csr_sha256=request.csr_sha256,
        policy_version=decision.policy_version,
        created_at=now,
        expires_at=now + timedelta(days=judge.policy.reviews.ttl_days),
        decided_at=None,
    )
    unit.insert(_INSERT_REVIEW, review.model_dump())
    opened = NewEvent("exception:opened", actor.name, f"exception:{review.id}",
                      {"request_id": request.id, "ips": [f.subject for f in decision.exceptions],
                       "expires_at": review.expires_at.isoformat()}, now)
    append_events(unit, [submitted, opened])
    return review
