"""The inventory's queries at 1,000,000 certificates on PostgreSQL: plans and timings.

    python bench/inventory_plan.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres [--rows 1000000]

Creates a scratch database, migrates it, fills it with generate_series (two names per
certificate: one IPv4 address, one DNS name), then runs EXPLAIN (ANALYZE, BUFFERS) on the exact
SQL that `search_certificates` issues for each filter and prints one table: filter, rows
matched, plan shape (index or sequential scan), execution time.
"""

from __future__ import annotations

import argparse
import re
import uuid
from datetime import UTC, datetime

from sqlalchemy import create_engine, text
from sqlalchemy.dialects import postgresql
from sqlmodel import Session, col, select

from service.db.migrate import upgrade
from service.db.models import Certificate
from service.usecases.inventory import InventoryQuery, _conditions

NOW = datetime(2026, 11, 29, tzinfo=UTC)

FILL = """
INSERT INTO requests (id, requester, status, csr_pem, csr_sha256, named_ips, violations, waived, policy_version,
                      validity_days, client_auth, created_at)
SELECT lpad(to_hex(g), 36, '0'), 'user' || (g % 500), 'issued', 'x', 'x', '[]', '[]', '[]', 'sha256:x', 90, false,
       timestamp '2026-01-01' + g * interval '20 seconds'
FROM generate_series(1, :n) g;
INSERT INTO certificates (id, serial_number, request_id, requester, common_name, pem, sha256_fingerprint,
                          not_before, not_after, issued_at, revoked_at, revocation_reason)
SELECT g, md5(g::text), lpad(to_hex(g), 36, '0'), 'user' || (g % 500), 'host' || g || '.example.com', 'x', md5(g::text),
       timestamp '2026-01-01' + g * interval '20 seconds', timestamp '2026-01-01' + g * interval '20 seconds' + interval '90 days',
       timestamp '2026-01-01' + g * interval '20 seconds',
       CASE WHEN g % 100 = 0 THEN timestamp '2026-06-01' END, CASE WHEN g % 100 = 0 THEN 'superseded' END
FROM generate_series(1, :n) g;
INSERT INTO certificate_names (certificate_id, kind, value)
SELECT g, 'ip', lpad(to_hex((x'ffff' :: bigint << 32) + (((g * 2654435761) % 4294967296))), 32, '0') FROM generate_series(1, :n) g
UNION ALL
SELECT g, 'dns', 'com.example.host' || g FROM generate_series(1, :n) g;
ANALYZE;
"""

QUERIES = {
    "ip=address": InventoryQuery(ip="158.85.228.177"),
    "ip=/16 CIDR": InventoryQuery(ip="10.20.0.0/16"),
    "dns=exact": InventoryQuery(dns="host4242.example.com"),
    "dns=*.suffix (all)": InventoryQuery(dns="*.example.com"),
    "serial": InventoryQuery(serial="9a1158154dfa42caddbd0694a4e9bdc8"),
    "status=revoked": InventoryQuery(status="revoked"),
    "requester": InventoryQuery(requester="user42"),
    "issued in a day": InventoryQuery(issued_after=datetime(2026, 3, 1, tzinfo=UTC), issued_before=datetime(2026, 3, 2, tzinfo=UTC)),
    "expiring in 7 days": InventoryQuery(expiring_within_days=7),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    name = f"certgate_inv_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = args.database_url.rsplit("/", 1)[0] + "/" + name
    try:
        upgrade(url)
        engine = create_engine(url)
        with engine.begin() as conn:
            for statement in FILL.strip().split(";\n"):
                if statement.strip():
                    conn.execute(text(statement), {"n": args.rows})
        print(f"{args.rows:,} certificates, {2 * args.rows:,} names; EXPLAIN ANALYZE of page 1 (50 rows) and the count")
        print(f"{'filter':<22} {'matched':>9}  {'page ms':>8}  {'count ms':>8}  plan")
        with Session(engine) as session:
            for label, query in QUERIES.items():
                conds = _conditions(query, NOW)
                page = select(Certificate).where(*conds).order_by(col(Certificate.issued_at), col(Certificate.id)).limit(50)
                from sqlmodel import func
                count = select(func.count()).select_from(Certificate).where(*conds)
                timings, shape = [], ""
                for stmt in (page, count):
                    sql = str(stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
                    plan = "\n".join(r[0] for r in session.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + sql)))
                    timings.append(float(re.search(r"Execution Time: ([\d.]+) ms", plan).group(1)))  # type: ignore[union-attr]
                    if not shape:
                        scans = re.findall(r"(Index Only Scan|Index Scan|Bitmap Index Scan|Seq Scan) (?:using \S+ )?on (\w+)", plan)
                        shape = ", ".join(sorted({f"{kind} {table}" for kind, table in scans}))
                matched = session.execute(count).scalar_one()
                print(f"{label:<22} {matched:>9,}  {timings[0]:>8.1f}  {timings[1]:>8.1f}  {shape}")
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
