"""Rows to answer dictionaries (dumped by the schemas): rows never leave as they are."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from policies.decision import Decision, Verdict
from service.db.models import Approval, Certificate, Review
from service.usecases.submit import RequestRecord

VERDICT_STATUS = {Verdict.ISSUE: "issued", Verdict.EXCEPTION: "pending_exception", Verdict.REJECT: "rejected"}


def certificate_body(cert: Certificate, chain_pem: str, now: datetime) -> dict[str, Any]:
    """The contract's certificate object."""
    return {
        "serial_number": cert.serial_number,
        "pem": cert.pem,
        "chain_pem": chain_pem,
        "issuing_ca": cert.issuer_ca,
        "not_before": cert.not_before,
        "not_after": cert.not_after,
        "sha256_fingerprint": cert.sha256_fingerprint,
        "status": cert.status_at(now),
        "revoked_at": cert.revoked_at,
        "revocation_reason": cert.revocation_reason,
        "request_id": cert.request_id,
        "requester": cert.requester,
        "common_name": cert.common_name,
    }


def _approval(a: Approval) -> dict[str, Any]:
    return {"approver": a.approver, "reason": a.reason, "at": a.at, "grant_days": a.grant_days}


def exception_body(review: Review, approvals: list[Approval], approvals_required: int) -> dict[str, Any]:
    """The contract's exception item."""
    rejection = next((a for a in approvals if a.decision == "reject"), None)
    return {
        "id": review.id,
        "request_id": review.request_id,
        "status": review.status,
        "created_at": review.created_at,
        "expires_at": review.expires_at,
        "decided_at": review.decided_at,
        "requester": review.requester,
        "violations": review.violations,
        "approvals": [_approval(a) for a in approvals if a.decision == "approve"],
        "rejection": _approval(rejection) if rejection else None,
        "approvals_required": approvals_required,
        "csr_sha256": review.csr_sha256,
        "policy_version": review.policy_version,
    }


def request_body(
    record: RequestRecord, *, chain_pem: str, now: datetime, approvals: list[Approval], approvals_required: int
) -> dict[str, Any]:
    """The contract's request answer."""
    r = record.request
    body: dict[str, Any] = {
        "id": r.id,
        "status": r.status,
        "requester": r.requester,
        "created_at": r.created_at,
        "decided_at": r.decided_at,
        "common_name": r.common_name,
        "named_ips": r.named_ips,
        "validity_days": r.validity_days,
        "policy_version": r.policy_version,
        "csr_sha256": r.csr_sha256,
        "grant_id": r.grant_id,
        "violations": r.violations,
        "waived": r.waived,
    }
    if record.certificate is not None:
        body["certificate"] = certificate_body(record.certificate, chain_pem, now)
    if record.review is not None:
        body["exception"] = exception_body(record.review, approvals, approvals_required)
    return body


def decision_body(decision: Decision) -> dict[str, Any]:
    """A dry run's answer."""
    return {
        "verdict": decision.verdict.value,
        "status": VERDICT_STATUS[decision.verdict],
        "violations": [f.as_dict() for f in decision.findings],
        "waived": [f.as_dict() for f in decision.waived],
        "grant_id": decision.grant_id,
        "policy_version": decision.policy_version,
        "validity_days": decision.validity_days,
        "named_ips": list(decision.named_ips),
    }
