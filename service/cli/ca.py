"""`certgate ca status` and `certgate ca rollover`: the issuing CAs and their succession."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click

from service.ca.keystore import CaKeyType
from service.cli.context import cli_actor, database, now, settings, setup_logging
from service.errors import CertgateError
from service.usecases.rollover import ca_status, roll_over


@click.group()
def ca() -> None:
    """The issuing CAs: what each does, and rolling over to a new one."""


def _when(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO-8601 time (e.g. 2027-01-31T12:00:00Z)") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@ca.command("rollover")
@click.option("--at", "at", default=None, metavar="TIME", help="ISO-8601 time the new CA starts signing (UTC if no zone; default now)")
@click.option("--ca-key-type", type=click.Choice([k.value for k in CaKeyType]), default=None,
              help="the new issuing CA's key type (default: the current one's)")
def rollover(at: str | None, ca_key_type: str | None) -> None:
    """Make a new issuing CA under the same root; it signs from TIME, the old one answers for its own."""
    setup_logging()
    s = settings()
    try:
        result = roll_over(database(s), s.data_dir / "ca", s.ca_passphrase, s.base_url, actor=cli_actor(), clock=now,
                           active_from=_when(at), key_type=CaKeyType(ca_key_type) if ca_key_type else None,
                           token=s.pkcs11)
    except CertgateError as exc:
        click.echo(f"rollover refused: {exc.message}", err=True)
        sys.exit(1)
    click.echo(f"issuing CA {result.generation}: {result.certificate.subject.rfc4514_string()}")
    click.echo(f"valid {result.certificate.not_valid_before_utc.isoformat()} to {result.certificate.not_valid_after_utc.isoformat()}")
    click.echo(f"signs from {result.active_from.isoformat()}; running servers switch then, without a restart")


@ca.command("status")
def status() -> None:
    """List the issuing CAs, their validity and what each still does."""
    setup_logging()
    s = settings()
    try:
        rows = ca_status(database(s), s.data_dir / "ca", now())
    except CertgateError as exc:
        click.echo(f"cannot read the CAs: {exc.message}", err=True)
        sys.exit(1)
    for row in rows:
        click.echo(f"issuing CA {row.generation}: {row.subject}")
        click.echo(f"  valid {row.not_before.isoformat()} to {row.not_after.isoformat()}")
        click.echo(f"  certificates: {row.certificates} issued, {row.unexpired} unexpired")
        click.echo(f"  does: {row.duty}")
