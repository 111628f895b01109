"""The batch's direct request answer is `RequestSchema`'s dump, byte for byte, in every shape."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from service.api.presenters import request_body
from service.api.request_answer import request_answer
from service.api.schemas import RequestSchema
from service.db.models import Approval, Certificate, CertificateRequest, Review
from service.domain import RequestStatus, ReviewStatus
from service.usecases.submit import RequestRecord

NOW = datetime(2026, 12, 3, 12, 30, 45, 123456, tzinfo=UTC)
FINDING = {"rule": "ip.owned", "code": "ip_not_owned", "message": 'not "yours"\n', "subject": "5.6.7.8"}


def _request(**changes: Any) -> CertificateRequest:
    values: dict[str, Any] = dict(
        id="2b8a3fb0-0000-4000-8000-000000000001", requester="alice", status=RequestStatus.ISSUED, csr_pem="PEM",
        csr_sha256="ab" * 32, common_name="www.example.com", named_ips=["5.6.7.8", "2001:db8::1"], violations=[],
        waived=[], policy_version="sha256:x", validity_days=90, client_auth=False, justification=None, grant_id=None,
        created_at=NOW, decided_at=NOW)
    values.update(changes)
    return CertificateRequest.model_construct(**values)


def _certificate(**changes: Any) -> Certificate:
    values: dict[str, Any] = dict(
        id=7, serial_number="4f" * 16, request_id="r", requester="alice", common_name="www.example.com",
        pem="-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----\n", sha256_fingerprint="cd" * 32,
        not_before=NOW - timedelta(minutes=1), not_after=NOW + timedelta(days=90), issued_at=NOW, revoked_at=None,
        revocation_reason=None, issuer_ca=1)
    values.update(changes)
    return Certificate.model_construct(**values)


def _review() -> Review:
    return Review.model_construct(id="x1", request_id="r", requester="alice", status=ReviewStatus.PENDING,
                                  violations=[FINDING], csr_sha256="ab" * 32, policy_version="sha256:x", created_at=NOW,
                                  expires_at=NOW + timedelta(days=7), decided_at=None)


RECORDS = {
    "issued": RequestRecord(_request(), certificate=_certificate()),
    "issued-waived-grant-ov": RequestRecord(_request(waived=[FINDING], grant_id="g1", common_name=None, named_ips=[]),
                                            certificate=_certificate(issuer_ca=3, common_name=None)),
    "revoked": RequestRecord(_request(), certificate=_certificate(revoked_at=NOW, revocation_reason="keyCompromise")),
    "expired": RequestRecord(_request(), certificate=_certificate(not_after=NOW - timedelta(seconds=1))),
    "rejected": RequestRecord(_request(status=RequestStatus.REJECTED, violations=[FINDING, {**FINDING, "code": "x"}])),
    "unicode-and-odd-values": RequestRecord(_request(common_name="é.example.com", violations=[{**FINDING, "extra": 1}],
                                                     validity_days=True)),
    "pending-exception": RequestRecord(_request(status=RequestStatus.PENDING_EXCEPTION, decided_at=None), review=_review()),
    "exception-with-approvals": RequestRecord(_request(status=RequestStatus.PENDING_EXCEPTION), review=_review()),
}


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_the_direct_answer_is_the_schemas_dump(name: str) -> None:
    record = RECORDS[name]
    approvals = [Approval.model_construct(id=1, exception_id="x1", approver="carol", decision="approve", reason="ok",
                                          at=NOW, grant_days=None)] if name == "exception-with-approvals" else []
    schema = RequestSchema().dump(request_body(record, chain_pem="CHAIN\n", now=NOW, approvals=approvals,
                                               approvals_required=2))
    direct = request_answer(record, chain_pem="CHAIN\n", now=NOW, approvals=approvals, approvals_required=2)
    for sort_keys in (True, False):
        assert json.dumps(direct, sort_keys=sort_keys) == json.dumps(schema, sort_keys=sort_keys)
