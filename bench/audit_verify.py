"""Audit verification at scale: N events written through the real append path, then verified.

    python bench/audit_verify.py [--events 100000] [--database-url URL]

Prints one table: append rate, `verify_audit_log` time (full recomputation: canonical bytes,
leaf hashes, tree, signed heads, inventory cross-check) and the per-event cost.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from service.audit.ledger import AuditLedger
from service.audit.log import append_event
from service.audit.treehead import generate_log_key
from service.audit.verify import verify_audit_log
from service.db.migrate import upgrade
from service.db.session import Database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--batch", type=int, default=500, help="events per transaction")
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{Path(tempfile.mkdtemp()) / 'audit.db'}"
    upgrade(url)
    db = Database(url)
    key = generate_log_key()
    ledger = AuditLedger(db, key)
    start, at = time.perf_counter(), datetime(2026, 11, 29, tzinfo=UTC)
    written = 0
    while written < args.events:
        with db.write() as session:
            for _ in range(min(args.batch, args.events - written)):
                at += timedelta(milliseconds=3)
                append_event(session, event="request:submitted", actor=f"user{written % 50}", subject=f"request:{written}",
                             data={"verdict": "issue", "named_ips": [f"5.6.{written % 256}.1"], "n": written}, at=at)
                written += 1
        if written % 20_000 < args.batch:
            ledger.tree_head(at)  # signed heads along the way, as the service signs them
    append_seconds = time.perf_counter() - start
    ledger.tree_head(at)
    start = time.perf_counter()
    with db.read() as session:
        report = verify_audit_log(session, key.public_key())
    verify_seconds = time.perf_counter() - start
    assert report.ok, report
    rows = [
        ("events", f"{args.events:,}"),
        ("append (batches of %d)" % args.batch, f"{append_seconds:.1f} s  ({args.events / append_seconds:,.0f} events/s)"),
        ("verify_audit_log", f"{verify_seconds:.2f} s  ({verify_seconds / args.events * 1e6:.1f} µs/event)"),
        ("verdict", f"ok={report.ok} tree_size={report.tree_size}"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"audit verification on {url.split(':')[0]}")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


if __name__ == "__main__":
    main()
