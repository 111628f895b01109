"""Submitting a CSR: verify, judge, then issue, open an exception, or refuse."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.serialization import Encoding
from sqlmodel import Session

from policies.decision import Decision, Verdict
from service.audit.log import append_event
from service.csr import VerifiedCsr, load_csr, request_facts
from service.db.models import Certificate, CertificateRequest, RequestStatus, Review, ReviewStatus
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
    with db.read() as session:
        return judge.decide(request_facts(csr, submission.validity_days), requester=actor.name, session=session, now=now)


def submit_request(
    db: Database, judge: Judge, issuer: Issuer, submission: Submission, actor: Principal, now: datetime
) -> RequestRecord:
    """Judge a CSR and act on the verdict in one transaction with its audit events.

    A policy refusal is stored as a `rejected` request (auditors see refusals) and then raised;
    bytes that are not a verifiable CSR leave nothing behind.

    Raises:
        MalformedCsr, CsrSignatureInvalid: the body is not a verifiable CSR.
        PolicyRejected: the key or validity breaks the policy (the request is stored as rejected).
        LintFailed: the CA's own profile produced a certificate the linter refuses.
    """
    csr = load_csr(submission.csr)
    facts = request_facts(csr, submission.validity_days)
    with db.read() as session:
        decision = judge.decide(facts, requester=actor.name, session=session, now=now)
    issued = None
    if decision.verdict is Verdict.ISSUE:
        # Sign outside the write transaction: the CPU work never holds the database lock.
        approved = frozenset(f.subject for f in decision.waived)
        issued = issuer.sign(csr, decision, judge.policy, client_auth=submission.client_auth, now=now, approved_ips=approved)
    with db.write() as session:
        request = _new_request(session, csr, submission, decision, actor, now)
        if decision.verdict is Verdict.REJECT:
            request.status = RequestStatus.REJECTED
            request.decided_at = now
            _submitted_event(session, request, decision, actor, now)
            append_event(session, event="request:rejected", actor=actor.name, subject=f"request:{request.id}",
                         data={"codes": [f.code for f in decision.findings]}, at=now)
        elif decision.verdict is Verdict.EXCEPTION:
            record = _open_review(session, request, decision, judge, actor, now)
        else:
            assert issued is not None
            request.status = RequestStatus.ISSUED
            request.decided_at = now
            request.waived = [f.as_dict() for f in decision.waived]
            _submitted_event(session, request, decision, actor, now)
            cert = record_certificate(session, request, issued, actor=actor.name, now=now,
                                      cause={"grant_id": decision.grant_id, "exception_id": None})
            record = RequestRecord(request, certificate=cert)
    if decision.verdict is Verdict.REJECT:
        first = decision.rejections[0]
        raise PolicyRejected(first.code, first.message, [f.as_dict() for f in decision.findings], request_id=request.id)
    return record


def _new_request(
    session: Session, csr: VerifiedCsr, submission: Submission, decision: Decision, actor: Principal, now: datetime
) -> CertificateRequest:
    request = CertificateRequest(
        id=str(uuid.uuid4()),
        requester=actor.name,
        status=RequestStatus.PENDING_EXCEPTION,
        csr_pem=csr.csr.public_bytes(Encoding.PEM).decode(),
        csr_sha256=csr.sha256,
        common_name=csr.common_name,
        named_ips=list(decision.named_ips),
        violations=[f.as_dict() for f in decision.findings],
        policy_version=decision.policy_version,
        validity_days=decision.validity_days,
        client_auth=submission.client_auth,
        justification=submission.justification,
        grant_id=decision.grant_id,
        created_at=now,
    )
    session.add(request)
    return request


def _submitted_event(session: Session, request: CertificateRequest, decision: Decision, actor: Principal, now: datetime) -> None:
    append_event(
        session,
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
    session: Session, request: CertificateRequest, decision: Decision, judge: Judge, actor: Principal, now: datetime
) -> RequestRecord:
    review = Review(
        id=str(uuid.uuid4()),
        request_id=request.id,
        requester=actor.name,
        status=ReviewStatus.PENDING,
        violations=[f.as_dict() for f in decision.exceptions],
        csr_sha256=request.csr_sha256,
        policy_version=decision.policy_version,
        created_at=now,
        expires_at=now + timedelta(days=judge.policy.reviews.ttl_days),
    )
    session.add(review)
    session.flush()
    _submitted_event(session, request, decision, actor, now)
    append_event(session, event="exception:opened", actor=actor.name, subject=f"exception:{review.id}",
                 data={"request_id": request.id, "ips": [f.subject for f in decision.exceptions],
                       "expires_at": review.expires_at.isoformat()}, at=now)
    return RequestRecord(request, review=review)
