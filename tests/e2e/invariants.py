"""What must hold in the database after any fault: read straight from the tables, not via the API."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import create_engine, text

SETTLED = {"issued", "pending_exception", "rejected", "withdrawn", "expired"}


@dataclass(frozen=True)
class LedgerState:
    """Counts worth reporting, and every broken invariant found (empty when all hold)."""

    requests: int
    certificates: int
    audit_events: int
    problems: tuple[str, ...]


def check_ledger(database_url: str) -> LedgerState:
    """Certificates and `certificate:issued` events match one to one; requests and events agree;
    serials are unique; the audit log is gap-free and its head counts it."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            serials = [r[0] for r in conn.execute(text("SELECT serial_number FROM certificates"))]
            cert_requests = {r[0]: r[1] for r in conn.execute(text("SELECT request_id, serial_number FROM certificates"))}
            requests = {r[0]: r[1] for r in conn.execute(text("SELECT id, status FROM requests"))}
            events = conn.execute(text('SELECT "index", event, subject FROM audit_events ORDER BY "index"')).all()
            head = conn.execute(text("SELECT size FROM audit_head WHERE id = 1")).scalar()
    finally:
        engine.dispose()
    problems: list[str] = []
    duplicates = [s for s, n in Counter(serials).items() if n > 1]
    if duplicates:
        problems.append(f"duplicate serials: {duplicates[:5]}")
    issued_events = Counter(subject.removeprefix("certificate:") for _, event, subject in events if event == "certificate:issued")
    if set(issued_events) != set(serials):
        problems.append(f"certificates without an issued event: {sorted(set(serials) - set(issued_events))[:5]}; "
                        f"issued events without a certificate: {sorted(set(issued_events) - set(serials))[:5]}")
    if any(n > 1 for n in issued_events.values()):
        problems.append("a certificate has more than one certificate:issued event")
    submitted = Counter(subject.removeprefix("request:") for _, event, subject in events if event == "request:submitted")
    if set(submitted) != set(requests) or any(n > 1 for n in submitted.values()):
        problems.append(f"requests and request:submitted events differ: {sorted(set(requests) ^ set(submitted))[:5]}")
    for request_id, status in requests.items():
        if status not in SETTLED:
            problems.append(f"request {request_id} in state {status!r}")
        if (status == "issued") != (request_id in cert_requests):
            problems.append(f"request {request_id} is {status!r} but has {'a' if request_id in cert_requests else 'no'} certificate")
    indexes = [row[0] for row in events]
    if indexes != list(range(len(indexes))):
        problems.append("audit indexes are not gap-free from 0")
    if (head or 0) != len(indexes):
        problems.append(f"audit head says {head}, the log holds {len(indexes)}")
    return LedgerState(len(requests), len(serials), len(events), tuple(problems))
