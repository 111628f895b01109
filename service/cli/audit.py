"""`certgate audit verify|export` and `certgate certs export|expiring`."""

from __future__ import annotations

import csv
import json
import sys
from datetime import UTC, datetime
from typing import TextIO

import click

from service.audit.verify import verify_audit_log
from service.process.bootstrap import audit_key_path
from service.ca.keystore import load_private_key
from service.cli.context import database, now, settings, setup_logging
from service.usecases.audit_query import AuditQuery, event_body, iter_audit
from service.usecases.inventory import InventoryQuery, iter_certificates


@click.group()
def audit() -> None:
    """Verify and export the tamper-evident audit log."""


@audit.command("verify")
def verify() -> None:
    """Recompute the log; exit 0 when intact, 1 naming the first bad entry."""
    setup_logging()
    s = settings()
    key = load_private_key(audit_key_path(s.data_dir), s.ca_passphrase)
    with database(s).read() as session:
        report = verify_audit_log(session, key.public_key())  # type: ignore[arg-type]
    if report.ok:
        click.echo(f"audit log intact: {report.tree_size} entries, signed heads and inventory consistent")
        return
    where = f"entry {report.first_bad_index}" if report.first_bad_index is not None else "a signed tree head"
    click.echo(f"audit log BROKEN at {where}: {report.problem}", err=True)
    sys.exit(1)


@audit.command("export")
@click.option("--event", default=None)
@click.option("--actor", default=None)
@click.option("--subject", default=None)
@click.option("--after", type=click.DateTime(), default=None, help="UTC")
@click.option("--before", type=click.DateTime(), default=None, help="UTC")
@click.option("--out", type=click.File("w"), default="-")
def export(event: str | None, actor: str | None, subject: str | None, after: datetime | None,
           before: datetime | None, out: TextIO) -> None:
    """Write matching events as JSON lines, oldest first."""
    setup_logging()
    q = AuditQuery(event, actor, subject, _utc(after), _utc(before))
    with database(settings()).read() as session:
        for row in iter_audit(session, q):
            out.write(json.dumps(event_body(row), sort_keys=True) + "\n")


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


@click.group()
def certs() -> None:
    """Export the certificate inventory."""


CSV_FIELDS = ["serial_number", "status", "requester", "common_name", "not_before", "not_after", "issued_at",
              "revoked_at", "revocation_reason", "sha256_fingerprint", "request_id"]


def _write_certificates(q: InventoryQuery, fmt: str, out: TextIO) -> int:
    count = 0
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS) if fmt == "csv" else None
    if writer:
        writer.writeheader()
    with database(settings()).read() as session:
        for item in iter_certificates(session, q, now=now()):
            row = {k: item[k] for k in CSV_FIELDS}
            if writer:
                writer.writerow(row)
            else:
                out.write(json.dumps(row | {"pem": item["pem"]}, default=str) + "\n")
            count += 1
    return count


@certs.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="jsonl", show_default=True)
@click.option("--status", type=click.Choice(["valid", "expired", "revoked"]), default=None)
@click.option("--out", type=click.File("w"), default="-")
def certs_export(fmt: str, status: str | None, out: TextIO) -> None:
    """Write the inventory as CSV or JSON lines."""
    setup_logging()
    _write_certificates(InventoryQuery(status=status), fmt, out)


@certs.command("expiring")
@click.option("--days", type=int, default=30, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True)
@click.option("--out", type=click.File("w"), default="-")
def certs_expiring(days: int, fmt: str, out: TextIO) -> None:
    """Report valid certificates that expire within DAYS."""
    setup_logging()
    count = _write_certificates(InventoryQuery(expiring_within_days=days), fmt, out)
    click.echo(f"{count} certificates expire within {days} days", err=True)
