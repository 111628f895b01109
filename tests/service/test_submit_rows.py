"""The request row a submission writes directly names every column the table has, in the model's order."""

from __future__ import annotations

from datetime import UTC, datetime

from policies.decision import Decision
from service.csr import load_csr
from service.db.models import CertificateRequest
from service.domain import Role
from service.tokens import Principal
from service.usecases.request_rows import request_values
from service.usecases.submit import Submission
from tests.factories import csr_pem


def test_the_direct_request_row_has_every_column_of_the_model() -> None:
    pem = csr_pem()
    values = request_values(load_csr(pem), Submission(pem), Decision((), "sha256:x", 90),
                             Principal("alice", Role.REQUESTER), datetime.now(UTC))
    assert list(values) == list(CertificateRequest.model_fields)
    assert CertificateRequest.model_construct(**values).model_dump() == values
