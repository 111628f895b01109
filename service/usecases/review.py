"""The exception (review) workflow: approve, reject, withdraw, expire — four eyes, one issuance."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, func, select

from policies.decision import Decision, Severity
from service.audit.log import append_event
from service.ca.authority import IssuedCertificate
from service.csr import load_csr, request_facts
from service.db.direct import DirectUnit
from service.db.models import Approval, Certificate, CertificateRequest, Grant, Review
from service.domain import RequestStatus, ReviewStatus
from service.db.session import Database
from service.errors import BadRequest, Conflict, Forbidden, NotFound, PolicyRejected
from service.idempotency import IdempotencyKey, Outcome, ensure_unused, record, replay_or_run
from service.issuance import Issuer, record_certificate
from service.judge import Judge
from service.tokens import Principal
from service.usecases.submit import RequestRecord

SYSTEM_ACTOR = "system"


@dataclass(frozen=True)
class Verdict:
    """An approver's word: the reason (required) and an optional renewal grant."""

    reason: str
    grant_days: int | None = None


def _locked_review(session: Session, review_id: str) -> Review:
    review = session.exec(select(Review).where(Review.id == review_id).with_for_update()).first()
    if review is None:
        raise NotFound(f"no exception {review_id}")
    return review


def _ensure_open(session: Session, review: Review, now: datetime) -> None:
    """Conflict unless the review is pending (callers expire overdue ones first, and commit that)."""
    if review.status != ReviewStatus.PENDING:
        raise Conflict(f"exception {review.id} is {review.status}, not pending")


def _open_for(session: Session, review_id: str, reviewer: Principal, now: datetime,
              key: IdempotencyKey | None = None) -> Review:
    """The review, row-locked, still pending, and one that `reviewer` may decide.

    Every decision on a review takes its row lock first, so a decision carrying `key` checks
    the key right after it: a twin that held the lock before has used it (`KeyTaken`).
    """
    review = _locked_review(session, review_id)
    ensure_unused(DirectUnit.of(session), key, now)
    _ensure_open(session, review, now)
    _check_reviewer(session, review, reviewer)
    return review


def _close(session: Session, review: Review, request: CertificateRequest, review_status: ReviewStatus,
           request_status: RequestStatus, now: datetime) -> None:
    """End a review and its request together."""
    review.status, review.decided_at = review_status, now
    request.status, request.decided_at = request_status, now
    session.add_all([review, request])


def _check_reviewer(session: Session, review: Review, reviewer: Principal) -> None:
    if reviewer.name == review.requester:
        raise Forbidden("four eyes: nobody decides an exception on their own request")
    seen = session.exec(select(Approval).where(Approval.exception_id == review.id, Approval.approver == reviewer.name)).first()
    if seen is not None:
        raise Conflict(f"{reviewer.name} has decided on exception {review.id} already")


def _approval(review: Review, reviewer: Principal, verdict: Verdict, decision: str, now: datetime) -> Approval:
    return Approval(exception_id=review.id, approver=reviewer.name, decision=decision, reason=verdict.reason,
                    csr_sha256=review.csr_sha256, policy_version=review.policy_version,
                    grant_days=verdict.grant_days, at=now)


def _decision_key(reviewer: Principal, review_id: str, action: str, verdict: Verdict,
                  idempotency_key: str | None) -> IdempotencyKey | None:
    if idempotency_key is None:
        return None
    return IdempotencyKey.of(reviewer.name, f"POST /api/v1/exceptions/{review_id}/{action}", idempotency_key,
                             {"reason": verdict.reason, "grant_days": verdict.grant_days})


def _replay(db: Database, outcome: Outcome) -> RequestRecord:
    """A repeated decision's answer: the request as it stands now, with its certificate and review."""
    assert outcome.request_id is not None
    with db.read() as session:
        request = session.get(CertificateRequest, outcome.request_id)
        assert request is not None  # requests are never deleted
        cert = session.exec(select(Certificate).where(Certificate.request_id == request.id)).first()
        review = session.exec(select(Review).where(Review.request_id == request.id)).first()
        return RequestRecord(request, certificate=cert, review=review)


def approve(db: Database, judge: Judge, issuer: Issuer, review_id: str, reviewer: Principal,
            verdict: Verdict, now: datetime, *, idempotency_key: str | None = None) -> RequestRecord:
    """Record an approval; with the last one required, judge the original CSR again and issue.

    Two approvers racing on the last approval serialise on the review row: the loser gets 409
    and the certificate it signed is discarded before anything is stored or published. With an
    `idempotency_key`, the same approval sent again answers its first result and adds nothing.

    Raises:
        NotFound, Forbidden (four eyes), Conflict (not pending, decided twice),
        BadRequest (grant too long, bad key), PolicyRejected (the key fails today's policy),
        IdempotencyKeyReused (the key was used with another body).
    """
    _check_reason(verdict.reason)
    if verdict.grant_days is not None and not 1 <= verdict.grant_days <= judge.policy.reviews.max_grant_days:
        raise BadRequest(f"grant_days must be 1 to {judge.policy.reviews.max_grant_days}")
    key = _decision_key(reviewer, review_id, "approve", verdict, idempotency_key)
    return replay_or_run(db, key, now, lambda: _approve(db, judge, issuer, review_id, reviewer, verdict, now, key),
                         lambda outcome: _replay(db, outcome))


def _approve(db: Database, judge: Judge, issuer: Issuer, review_id: str, reviewer: Principal,
             verdict: Verdict, now: datetime, key: IdempotencyKey | None) -> RequestRecord:
    expire_due(db, now)
    with db.write() as session:
        review = _open_for(session, review_id, reviewer, now, key)
        approvals = session.exec(select(func.count()).select_from(Approval).where(
            Approval.exception_id == review.id, Approval.decision == "approve")).one()
        if approvals + 1 < judge.policy.reviews.approvals_required:
            _record(session, key, review, now)
            session.add(_approval(review, reviewer, verdict, "approve", now))
            append_event(session, event="exception:approval_added", actor=reviewer.name, subject=f"exception:{review.id}",
                         data={"reason": verdict.reason, "approvals": approvals + 1, "csr_sha256": review.csr_sha256,
                               "policy_version": review.policy_version, "grant_days": verdict.grant_days}, at=now)
            return RequestRecord(_request(session, review), review=review)
        request = _request(session, review)
    issued, decision = _judge_again_and_sign(db, judge, issuer, review, request, now)
    with db.write() as session:
        review = _open_for(session, review_id, reviewer, now, key)
        _record(session, key, review, now)
        request = _request(session, review)
        session.add(_approval(review, reviewer, verdict, "approve", now))
        _close(session, review, request, ReviewStatus.APPROVED, RequestStatus.ISSUED, now)
        request.waived = [f.as_dict() for f in decision.exceptions]
        ips, names = _approved_subjects(decision)
        append_event(session, event="exception:approved", actor=reviewer.name, subject=f"exception:{review.id}",
                     data={"reason": verdict.reason, "request_id": request.id, "csr_sha256": review.csr_sha256,
                           "policy_version": decision.policy_version, "approved_ips": ips, "approved_names": names,
                           "grant_days": verdict.grant_days}, at=now)
        if verdict.grant_days:
            _grant(session, review, ips=ips, names=names, days=verdict.grant_days, actor=reviewer.name, now=now)
        cert = record_certificate(DirectUnit.of(session), request, issued, actor=reviewer.name, now=now,
                                  cause={"exception_id": review.id, "grant_id": None})
        return RequestRecord(request, certificate=cert, review=review)


def _judge_again_and_sign(db: Database, judge: Judge, issuer: Issuer, review: Review,
                          request: CertificateRequest, now: datetime) -> tuple[IssuedCertificate, Decision]:
    """Re-check the original CSR under today's policy; sign with the approved IPs waived."""
    csr = load_csr(request.csr_pem.encode())
    if csr.sha256 != review.csr_sha256:
        raise Conflict("the stored CSR does not match the one the exception was opened for")
    with db.direct_read() as reads:
        decision = judge.decide(request_facts(csr, request.validity_days), requester=request.requester,
                                reads=reads, now=now)
    rejections = [f for f in decision.findings if f.severity is Severity.REJECT]
    if rejections:
        _close_rejected(db, review.id, [f.as_dict() for f in decision.findings], now)
        raise PolicyRejected(rejections[0].code, "the request fails today's policy: " + rejections[0].message,
                             [f.as_dict() for f in decision.findings], request_id=request.id)
    reviewed = {v["subject"] for v in review.violations}
    new = [f.subject for f in decision.exceptions if f.subject not in reviewed]
    if new:
        raise Conflict(f"the policy changed and {', '.join(new)} now also need a review; submit the request again")
    approved = frozenset(f.subject for f in decision.exceptions)
    issued = issuer.sign(csr, decision, judge.policy, client_auth=request.client_auth, now=now, approved_ips=approved)
    return issued, decision


def _close_rejected(db: Database, review_id: str, violations: list[dict[str, str]], now: datetime) -> None:
    with db.write() as session:
        review = _locked_review(session, review_id)
        if review.status != ReviewStatus.PENDING:
            return
        request = _request(session, review)
        _close(session, review, request, ReviewStatus.REJECTED, RequestStatus.REJECTED, now)
        request.violations = violations
        append_event(session, event="exception:rejected", actor=SYSTEM_ACTOR, subject=f"exception:{review.id}",
                     data={"reason": "the request fails the policy in force at approval", "request_id": request.id,
                           "violations": violations}, at=now)


def _approved_subjects(decision: Decision) -> tuple[list[str], list[str]]:
    """The approved IPs and the approved DNS names (findings `dns_not_owned`), apart."""
    names = [f.subject for f in decision.exceptions if f.code == "dns_not_owned"]
    return [f.subject for f in decision.exceptions if f.code != "dns_not_owned"], names


def _grant(session: Session, review: Review, *, ips: list[str], names: list[str], days: int, actor: str,
           now: datetime) -> None:
    grant = Grant(id=str(uuid.uuid4()), requester=review.requester, exception_id=review.id,
                  ip_addresses=sorted(ips), dns_names=sorted(names), created_at=now, expires_at=now + timedelta(days=days))
    session.add(grant)
    append_event(session, event="grant:created", actor=actor, subject=f"grant:{grant.id}",
                 data={"requester": grant.requester, "exception_id": review.id, "ip_addresses": grant.ip_addresses,
                       "dns_names": grant.dns_names, "expires_at": grant.expires_at.isoformat()}, at=now)


def reject(db: Database, review_id: str, reviewer: Principal, verdict: Verdict, now: datetime,
           *, idempotency_key: str | None = None) -> RequestRecord:
    """End a pending exception without a certificate (once per `idempotency_key`, as `approve`).

    Raises:
        NotFound, Forbidden (four eyes), Conflict (not pending), BadRequest (no reason, bad key),
        IdempotencyKeyReused (the key was used with another body).
    """
    _check_reason(verdict.reason)
    key = _decision_key(reviewer, review_id, "reject", verdict, idempotency_key)
    return replay_or_run(db, key, now, lambda: _reject(db, review_id, reviewer, verdict, now, key),
                         lambda outcome: _replay(db, outcome))


def _reject(db: Database, review_id: str, reviewer: Principal, verdict: Verdict, now: datetime,
            key: IdempotencyKey | None) -> RequestRecord:
    expire_due(db, now)
    with db.write() as session:
        review = _open_for(session, review_id, reviewer, now, key)
        _record(session, key, review, now)
        request = _request(session, review)
        session.add(_approval(review, reviewer, verdict, "reject", now))
        _close(session, review, request, ReviewStatus.REJECTED, RequestStatus.REJECTED, now)
        append_event(session, event="exception:rejected", actor=reviewer.name, subject=f"exception:{review.id}",
                     data={"reason": verdict.reason, "request_id": request.id}, at=now)
        return RequestRecord(request, review=review)


def withdraw(db: Database, review_id: str, requester: Principal, now: datetime) -> RequestRecord:
    """The requester takes back their own pending request.

    Raises:
        NotFound, Forbidden (not theirs), Conflict (not pending).
    """
    expire_due(db, now)
    with db.write() as session:
        review = _locked_review(session, review_id)
        if review.requester != requester.name:
            raise Forbidden("only the requester may withdraw a request")
        _ensure_open(session, review, now)
        request = _request(session, review)
        _close(session, review, request, ReviewStatus.WITHDRAWN, RequestStatus.WITHDRAWN, now)
        append_event(session, event="exception:withdrawn", actor=requester.name, subject=f"exception:{review.id}",
                     data={"request_id": request.id}, at=now)
        return RequestRecord(request, review=review)


def expire_due(db: Database, now: datetime) -> int:
    """Expire every pending exception past its deadline; returns how many."""
    with db.write() as session:
        due = session.exec(select(Review).where(Review.status == ReviewStatus.PENDING, Review.expires_at <= now)
                           .order_by(col(Review.created_at)).with_for_update()).all()
        for review in due:
            _expire(session, review, now)
        return len(due)


def _expire(session: Session, review: Review, now: datetime) -> None:
    request = _request(session, review)
    _close(session, review, request, ReviewStatus.EXPIRED, RequestStatus.EXPIRED, now)
    append_event(session, event="exception:expired", actor=SYSTEM_ACTOR, subject=f"exception:{review.id}",
                 data={"request_id": request.id, "expires_at": review.expires_at.isoformat()}, at=now)


def _request(session: Session, review: Review) -> CertificateRequest:
    request = session.get(CertificateRequest, review.request_id)
    assert request is not None  # a foreign key guarantees it
    return request


def _record(session: Session, key: IdempotencyKey | None, review: Review, now: datetime) -> None:
    """Write the decision's idempotency key in its transaction (under the review's row lock)."""
    if key is not None:
        record(DirectUnit.of(session), key, now, request_id=review.request_id)


def _check_reason(reason: str) -> None:
    if not reason or not reason.strip():
        raise BadRequest("a reason is required")
