"""The console's first pages against the matching API calls, at scale, on SQLite and PostgreSQL: one table.

    python bench/console.py [--certs 1000000] [--events 1000000] [--pending 10000] [--repeat 15] [--backends sqlite,postgresql]

Builds a data dir (CA, migrations) per backend, fills it by direct SQL inserts (certificates with
their requests, audit events, pending exceptions with their requests), then times the first page
of the exception queue, the inventory and the audit log through the console and through the API,
alternating, in one process on one Flask app (the same WSGI stack, the same use cases). Prints
medians and the console/API ratio; the target is a ratio within 2.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from service.ca.keystore import CaKeyType  # noqa: E402
from service.domain import Role  # noqa: E402
from service.process.app import create_app  # noqa: E402
from service.process.bootstrap import initialize  # noqa: E402
from service.process.config import Settings  # noqa: E402
from service.tokens import create_token  # noqa: E402

PAGES = [  # (page, console path, API path)
    ("queue, first page", "/console/queue", "/api/v1/exceptions?status=pending"),
    ("inventory, first page", "/console/inventory", "/api/v1/certificates"),
    ("audit log, first page", "/console/audit", "/api/v1/audit"),
]
VIOLATION = '[{"rule": "ip.owned", "code": "ip_not_owned", "message": "9.9.9.9 is not inside a range the organisation owns", "subject": "9.9.9.9"}]'

# One series per backend: PostgreSQL's generate_series, SQLite's recursive CTE.
SERIES = {"postgresql": "SELECT g FROM generate_series(1, :n) g",
          "sqlite": "WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < :n) SELECT g FROM s"}
HEX = {"postgresql": "lpad(to_hex({}), {}, '0')", "sqlite": "printf('%0{1}x', {0})"}
AT = {"postgresql": "timestamp '{}' + ({}) * interval '1 second'", "sqlite": "strftime('%Y-%m-%d %H:%M:%f', '{}', ({}) || ' seconds')"}


def _fill(url: str, kind: str, certs: int, events: int, pending: int, now: datetime) -> None:
    hx = lambda expr, width: HEX[kind].format(expr, width)  # noqa: E731
    at = lambda base, secs: AT[kind].format(base, secs)  # noqa: E731
    series = SERIES[kind]
    start, soon = "2026-01-01 00:00:00", now.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S")
    statements = [
        f"""INSERT INTO requests (id, requester, status, csr_pem, csr_sha256, named_ips, violations, waived, policy_version,
                validity_days, client_auth, created_at) SELECT {hx('g', 36)}, 'user' || (g % 500), 'issued', 'x', 'x', '[]', '[]', '[]',
                'sha256:x', 90, false, {at(start, 'g * 20')} FROM ({series}) AS q""",
        f"""INSERT INTO certificates (id, serial_number, request_id, requester, common_name, pem, sha256_fingerprint, not_before,
                not_after, issued_at) SELECT g, {hx('g', 32)}, {hx('g', 36)}, 'user' || (g % 500), 'host' || g || '.example.com', 'x',
                {hx('g', 64)}, {at(start, 'g * 20')}, {at(start, 'g * 20 + 7776000')}, {at(start, 'g * 20')} FROM ({series}) AS q""",
        f"""INSERT INTO audit_events ("index", event, actor, at, subject, data, leaf_hash) SELECT g - 1, 'certificate:issued',
                'user' || (g % 500), {at(start, 'g * 20')}, 'certificate:' || {hx('g', 32)}, '{{}}', {hx('g', 64)} FROM ({series}) AS q""",
        f"""INSERT INTO requests (id, requester, status, csr_pem, csr_sha256, named_ips, violations, waived, policy_version,
                validity_days, client_auth, justification, created_at) SELECT 'e' || {hx('g', 35)}, 'user' || (g % 500),
                'pending_exception', 'x', 'x', '["9.9.9.9"]', '{VIOLATION}', '[]', 'sha256:x', 90, false, 'lab box ' || g,
                {at(soon, '-86400 + g')} FROM ({series}) AS q""",
        f"""INSERT INTO exceptions (id, request_id, requester, status, violations, csr_sha256, policy_version, created_at, expires_at)
                SELECT 'x' || {hx('g', 35)}, 'e' || {hx('g', 35)}, 'user' || (g % 500), 'pending', '{VIOLATION}', 'x', 'sha256:x',
                {at(soon, '-86400 + g')}, {at(soon, '86400 * 13 + g')} FROM ({series}) AS q""",
    ]
    sizes = [certs, certs, events, pending, pending]
    engine = create_engine(url)
    with engine.begin() as conn:
        for sql, n in zip(statements, sizes):
            conn.execute(text(sql), {"n": n})
        conn.execute(text("UPDATE audit_head SET size = :n"), {"n": events})
        if kind == "postgresql":
            conn.execute(text("ANALYZE"))
    if kind == "sqlite":
        with engine.connect() as conn:
            conn.execute(text("ANALYZE"))
    engine.dispose()


def _median_ms(client: object, path: str, headers: dict[str, str]) -> float:
    started = time.perf_counter()
    answer = client.get(path, headers=headers)  # type: ignore[attr-defined]
    elapsed = (time.perf_counter() - started) * 1000
    assert answer.status_code == 200, (path, answer.status_code)
    return elapsed


def run(kind: str, url: str, data_dir: Path, args: argparse.Namespace) -> list[tuple[str, str, float, float]]:
    now = datetime.now(UTC)
    settings = Settings.from_env({"CERTGATE_DATA_DIR": str(data_dir), "CERTGATE_DATABASE_URL": url})
    initialize(settings, key_type=CaKeyType.P256, now=now)
    built = time.perf_counter()
    _fill(url, kind, args.certs, args.events, args.pending, now)
    print(f"{kind}: filled in {time.perf_counter() - built:.0f} s", file=sys.stderr)
    app = create_app(settings)
    rt = app.extensions["certgate"]
    with rt.db.write() as session:
        secret = create_token(session, name="bench-admin", role=Role.ADMIN, actor="bench", now=now)
    api, console = app.test_client(), app.test_client()
    bearer = {"Authorization": f"Bearer {secret}"}
    page = console.get("/console/sign-in").get_data(as_text=True)
    csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
    assert console.post("/console/sign-in", data={"token": secret, "csrf_token": csrf}).status_code == 302
    rows = []
    for name, console_path, api_path in PAGES:
        _median_ms(api, api_path, bearer), _median_ms(console, console_path, {})  # warm both
        api_ms, console_ms = [], []
        for _ in range(args.repeat):
            api_ms.append(_median_ms(api, api_path, bearer))
            console_ms.append(_median_ms(console, console_path, {}))
        rows.append((kind, name, statistics.median(api_ms), statistics.median(console_ms)))
    rt.db.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--certs", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--pending", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    rows: list[tuple[str, str, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="certgate-bench-console.") as tmp:
        for kind in args.backends.split(","):
            data_dir = Path(tmp) / kind
            if kind == "sqlite":
                rows += run(kind, f"sqlite:///{data_dir / 'certgate.db'}", data_dir, args)
                continue
            from tests.e2e.conftest import free_port
            from tests.e2e.pgserver import ThrowawayPostgres

            pg = ThrowawayPostgres.create(free_port())
            try:
                pg.start()
                rows += run(kind, pg.new_database("bench_console"), data_dir, args)
            finally:
                pg.destroy()
    print(f"\n{args.certs:,} certificates, {args.events:,} audit events, {args.pending:,} pending exceptions; "
          f"median of {args.repeat}, in-process (Flask test client), one app\n")
    print("| backend | page | API ms | console ms | console / API |")
    print("|---|---|---:|---:|---:|")
    for kind, name, api_ms, console_ms in rows:
        print(f"| {kind} | {name} | {api_ms:.1f} | {console_ms:.1f} | {console_ms / api_ms:.2f} |")


if __name__ == "__main__":
    main()
