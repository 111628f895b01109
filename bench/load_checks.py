"""The load test's closing checks on the database the server wrote, and `certgate audit verify`."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy import create_engine, text

from bench.load_client import Recorder

FINAL_OR_PENDING = {"issued", "pending_exception", "rejected", "withdrawn", "expired"}


def check_invariants(database_url: str, env: dict[str, str], recorder: Recorder) -> list[tuple[str, bool, str]]:
    """(name, ok, detail) for each invariant."""
    engine = create_engine(database_url)
    with engine.connect() as conn:
        serials = [r[0] for r in conn.execute(text("SELECT serial_number FROM certificates"))]
        issued_events = [r[0] for r in conn.execute(text("SELECT subject FROM audit_events WHERE event = 'certificate:issued'"))]
        indexes = [r[0] for r in conn.execute(text('SELECT "index" FROM audit_events ORDER BY "index"'))]
        statuses = dict(conn.execute(text("SELECT status, count(*) FROM requests GROUP BY status")).all())
        issued_without_cert = conn.execute(text(
            "SELECT count(*) FROM requests r LEFT JOIN certificates c ON c.request_id = r.id "
            "WHERE r.status = 'issued' AND c.id IS NULL")).scalar_one()
        cert_without_issued = conn.execute(text(
            "SELECT count(*) FROM certificates c JOIN requests r ON r.id = c.request_id WHERE r.status <> 'issued'")).scalar_one()
        pending_without_review = conn.execute(text(
            "SELECT count(*) FROM requests r LEFT JOIN exceptions e ON e.request_id = r.id AND e.status = 'pending' "
            "WHERE r.status = 'pending_exception' AND e.id IS NULL")).scalar_one()
    engine.dispose()
    cert_subjects = {f"certificate:{s}" for s in serials}
    verify = subprocess.run([sys.executable, "-m", "service.cli", "audit", "verify"], env=env, text=True,
                            capture_output=True, timeout=600)
    fivexx = recorder.server_errors()
    odd = {s: n for s, n in statuses.items() if s not in FINAL_OR_PENDING}
    return [
        ("no 5xx answer", fivexx == 0, f"{fivexx} server errors; {len(recorder.errors)} transport errors"),
        ("certificate <-> issuance event", cert_subjects == set(issued_events) and len(issued_events) == len(serials),
         f"{len(serials)} certificates, {len(issued_events)} certificate:issued events, "
         f"{len(cert_subjects - set(issued_events))} without event, {len(set(issued_events) - cert_subjects)} events without certificate"),
        ("no duplicate serial", len(serials) == len(set(serials)), f"{len(serials) - len(set(serials))} duplicates"),
        ("audit log gap-free", indexes == list(range(len(indexes))), f"{len(indexes)} entries"),
        ("certgate audit verify", verify.returncode == 0, (verify.stdout or verify.stderr).strip().splitlines()[-1]),
        ("requests final or pending", not odd and issued_without_cert == 0 and cert_without_issued == 0
         and pending_without_review == 0,
         f"{dict(sorted(statuses.items()))}; issued w/o cert {issued_without_cert}, cert on non-issued {cert_without_issued}, "
         f"pending w/o open exception {pending_without_review}"),
    ]
