"""The rows and audit events a judged request writes: built from checked values, never validated again."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.serialization import Encoding

from policies.decision import Decision, Verdict
from service.audit.log import NewEvent
from service.csr import VerifiedCsr
from service.db.models import CertificateRequest, Review, table_of
from service.domain import RequestStatus, ReviewStatus
from service.judge import Judge
from service.tokens import Principal

if TYPE_CHECKING:
    from service.usecases.submit import Submission

INSERT_REQUEST = table_of(CertificateRequest).insert()
INSERT_REVIEW = table_of(Review).insert()
_STATUS = {Verdict.ISSUE: RequestStatus.ISSUED, Verdict.REJECT: RequestStatus.REJECTED,
           Verdict.EXCEPTION: RequestStatus.PENDING_EXCEPTION}


def request_values(
    csr: VerifiedCsr, submission: Submission, decision: Decision, actor: Principal, now: datetime
) -> dict[str, Any]:
    """The request's row as it is stored, every column (unvalidated: every value comes from checked data)."""
    final = decision.verdict is not Verdict.EXCEPTION
    return dict(
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


def submitted_event(request: CertificateRequest, decision: Decision, actor: Principal, now: datetime) -> NewEvent:
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


def review_row(
    request: CertificateRequest, decision: Decision, judge: Judge, actor: Principal, now: datetime
) -> tuple[Review, NewEvent]:
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
    opened = NewEvent("exception:opened", actor.name, f"exception:{review.id}",
                      {"request_id": request.id, "ips": [f.subject for f in decision.exceptions if f.code != "dns_not_owned"],
                       "names": [f.subject for f in decision.exceptions if f.code == "dns_not_owned"],
                       "expires_at": review.expires_at.isoformat()}, now)
    return review, opened
