"""Two requests racing with one `Idempotency-Key`: exactly one change, both get its answer."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, text
from sqlmodel import select

from service.db.models import Approval, AuditEvent, Certificate, CertificateRequest, IdempotencyRecord
from service.domain import Role
from service.issuance import Issuer
from service.process.runtime import Runtime
from service.tokens import Principal
from service.usecases.ranges import add_range
from service.usecases.review import Verdict, approve
from service.usecases.submit import Submission, submit_request
from tests.factories import csr_pem

ALICE = Principal("alice", Role.REQUESTER)
CAROL = Principal("carol", Role.APPROVER)
ROUNDS = 4


@dataclass(frozen=True)
class RendezvousIssuer(Issuer):
    """The real issuer, but both racers must reach the signing before either may go on.

    Each racer has then passed the up-front key check: the unique constraint alone must decide.
    """

    barrier: threading.Barrier = field(default_factory=lambda: threading.Barrier(2, timeout=30))

    def sign(self, *args: Any, **kwargs: Any) -> Any:
        self.barrier.wait()
        return super().sign(*args, **kwargs)


def _count(runtime: Runtime, model: Any) -> int:
    with runtime.db.read() as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def _race(work: Callable[[], Any]) -> list[Any]:
    with ThreadPoolExecutor(2) as pool:
        return [f.result() for f in [pool.submit(work), pool.submit(work)]]


def test_two_concurrent_submissions_with_one_key_create_one_request(runtime: Runtime, owned_domains: tuple[str, ...]) -> None:
    now = runtime.clock()
    with runtime.db.write() as session:
        add_range(session, cidr="5.6.7.0/24", owner="netops", actor="admin", now=now)
    for round_ in range(ROUNDS):
        issuer = RendezvousIssuer(runtime.issuer.roster, runtime.issuer.linter)
        submission = Submission(csr=csr_pem(ips=[f"5.6.7.{round_ + 1}"]))
        before = {m: _count(runtime, m) for m in (CertificateRequest, Certificate, AuditEvent)}
        records = _race(lambda: submit_request(runtime.db, runtime.judge, issuer, submission, ALICE, now,
                                               idempotency_key=f"race-{round_}"))
        assert records[0].request.id == records[1].request.id
        assert records[0].certificate is not None and records[1].certificate is not None
        assert records[0].certificate.serial_number == records[1].certificate.serial_number
        after = {m: _count(runtime, m) for m in (CertificateRequest, Certificate, AuditEvent)}
        assert after[CertificateRequest] == before[CertificateRequest] + 1
        assert after[Certificate] == before[Certificate] + 1
        assert after[AuditEvent] == before[AuditEvent] + 2  # submitted + issued, once
    assert _count(runtime, IdempotencyRecord) == ROUNDS


def test_two_concurrent_approvals_with_one_key_approve_once(runtime: Runtime) -> None:
    now = runtime.clock()
    for round_ in range(ROUNDS):
        pending = submit_request(runtime.db, runtime.judge, runtime.issuer,
                                 Submission(csr=csr_pem(ips=[f"10.0.0.{round_ + 1}"])), ALICE, now)
        assert pending.review is not None
        review_id = pending.review.id
        issuer = RendezvousIssuer(runtime.issuer.roster, runtime.issuer.linter)
        records = _race(lambda: approve(runtime.db, runtime.judge, issuer, review_id, CAROL, Verdict("lab"), now,
                                        idempotency_key=f"approve-{round_}"))
        assert records[0].certificate is not None and records[1].certificate is not None
        assert records[0].certificate.serial_number == records[1].certificate.serial_number
        with runtime.db.read() as session:
            approvals = session.exec(select(Approval).where(Approval.exception_id == review_id)).all()
            certificates = session.exec(select(Certificate).where(Certificate.request_id == pending.request.id)).all()
            approved_events = session.connection().execute(
                text("SELECT count(*) FROM audit_events WHERE subject = :s AND event = 'exception:approved'"),
                {"s": f"exception:{review_id}"}).scalar_one()
        assert len(approvals) == 1 and len(certificates) == 1 and approved_events == 1
