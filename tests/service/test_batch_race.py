"""Two batches racing with one `Idempotency-Key`: one runs, the other is told to retry, nothing twice."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import select

from service.db.models import AuditEvent, Certificate, CertificateRequest
from service.domain import Role
from service.errors import Conflict
from service.idempotency import IdempotencyKey
from service.process.runtime import Runtime
from service.tokens import Principal
from service.usecases.batch import BATCH_SCOPE, submit_batch
from service.usecases.submit import Submission
from tests.factories import csr_pem
from tests.service.test_idempotency_race import RendezvousIssuer

ALICE = Principal("alice", Role.REQUESTER)


def _count(runtime: Runtime, model: Any) -> int:
    with runtime.db.read() as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


@pytest.mark.parametrize("round_", range(3))
def test_two_concurrent_batches_with_one_key_issue_once(runtime: Runtime, owned_domains: tuple[str, ...], round_: int) -> None:
    items = [Submission(csr=csr_pem(cn=f"race{round_}-{i}.example.com")) for i in range(3)]
    key = IdempotencyKey.of(ALICE.name, BATCH_SCOPE, f"race-{round_}", {"items": [s.fingerprint() for s in items]})
    issuer = RendezvousIssuer(runtime.issuer.roster, runtime.issuer.linter)  # both racers sign before either writes
    events_before = _count(runtime, AuditEvent)

    def run() -> Any:
        try:
            return submit_batch(runtime.db, runtime.judge, issuer, items, ALICE, runtime.clock, key=key)
        except Conflict as exc:
            return exc

    with ThreadPoolExecutor(2) as pool:
        outcomes = [f.result() for f in [pool.submit(run), pool.submit(run)]]
    winners = [o for o in outcomes if isinstance(o, list)]
    assert len(winners) == 1 and sum(isinstance(o, Conflict) for o in outcomes) == 1, outcomes
    assert (_count(runtime, CertificateRequest), _count(runtime, Certificate), _count(runtime, AuditEvent) - events_before) == (3, 3, 6)
    replay = submit_batch(runtime.db, runtime.judge, runtime.issuer, items, ALICE, runtime.clock, key=key)
    assert [r.record.certificate.serial_number for r in replay] == [  # type: ignore[union-attr]
        r.record.certificate.serial_number for r in winners[0]]
    assert _count(runtime, Certificate) == 3
