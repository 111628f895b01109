"""A request's answer as `RequestSchema` dumps it, built directly: a batch answers hundreds per call.

marshmallow's dump walks its field objects for every value (about 40 µs per issued request, most
of an answer's cost); this writes the same values for the common shapes, a request with or
without its certificate, and leaves everything else (an exception, with its approvals) to the
schema. `tests/api/test_request_answer.py` holds the two to the same JSON, byte for byte.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from service.api.presenters import request_body
from service.api.schemas import RequestSchema
from service.db.models import Approval, Certificate
from service.process.runtime import Runtime
from service.usecases.read_requests import approvals_of
from service.usecases.submit import RequestRecord

_SCHEMA = RequestSchema()
_VIOLATION_KEYS = ("rule", "code", "message", "subject")


def answer_for(rt: Runtime, record: RequestRecord) -> dict[str, Any]:
    """A request record as the contract's answer: its chain, and its exception's approvals."""
    approvals = []
    if record.review is not None:
        with rt.db.read() as session:
            approvals = approvals_of(session, record.review.id)
    return request_answer(
        record,
        chain_pem=rt.roster.chain_pem(record.certificate.issuer_ca) if record.certificate is not None else "",
        now=rt.clock(),
        approvals=approvals,
        approvals_required=rt.judge.policy.reviews.approvals_required,
    )


def request_answer(record: RequestRecord, *, chain_pem: str, now: datetime, approvals: list[Approval],
                   approvals_required: int) -> dict[str, Any]:
    """`RequestSchema().dump(request_body(record, ...))`."""
    if record.review is not None:
        return dict(_SCHEMA.dump(request_body(record, chain_pem=chain_pem, now=now, approvals=approvals,
                                              approvals_required=approvals_required)))
    r = record.request
    body: dict[str, Any] = {
        "id": _text(r.id),
        "status": _text(r.status),
        "requester": _text(r.requester),
        "created_at": _time(r.created_at),
        "decided_at": _time(r.decided_at),
        "common_name": _text(r.common_name),
        "named_ips": None if r.named_ips is None else [_text(ip) for ip in r.named_ips],
        "validity_days": None if r.validity_days is None else int(r.validity_days),
        "policy_version": _text(r.policy_version),
        "csr_sha256": _text(r.csr_sha256),
        "grant_id": _text(r.grant_id),
        "violations": _violations(r.violations),
        "waived": _violations(r.waived),
    }
    if record.certificate is not None:
        body["certificate"] = _certificate(record.certificate, chain_pem, now)
    return body


def _certificate(cert: Certificate, chain_pem: str, now: datetime) -> dict[str, Any]:
    return {
        "serial_number": _text(cert.serial_number),
        "pem": _text(cert.pem),
        "chain_pem": _text(chain_pem),
        "issuing_ca": None if cert.issuer_ca is None else int(cert.issuer_ca),
        "not_before": _time(cert.not_before),
        "not_after": _time(cert.not_after),
        "sha256_fingerprint": _text(cert.sha256_fingerprint),
        "status": _text(cert.status_at(now)),
        "revoked_at": _time(cert.revoked_at),
        "revocation_reason": _text(cert.revocation_reason),
    }


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _violations(values: list[dict[str, Any]] | None) -> list[dict[str, str | None]] | None:
    if values is None:
        return None
    return [{k: _text(v[k]) for k in _VIOLATION_KEYS if k in v} for v in values]
