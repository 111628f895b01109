"""`certgate acme eab create|list|revoke` and `certgate acme renew-all`."""

from __future__ import annotations

import click

from service.acme.eab import create_eab_key, list_eab_keys, mark_renew_all, revoke_eab_key
from service.ca.authority import CertificateAuthority
from service.cli.context import cli_actor, database, now, settings, setup_logging
from service.errors import CertgateError


@click.group()
def acme() -> None:
    """The ACME edge: External Account Binding keys and ARI mass replacement."""


@acme.group()
def eab() -> None:
    """External Account Binding keys: each binds one ACME account to a requester."""


@eab.command("create")
@click.option("--requester", required=True, help="the requester the ACME account acts as")
def eab_create(requester: str) -> None:
    """Print `KID HMAC_KEY` (base64url) as the last line; the HMAC key is shown once."""
    setup_logging()
    db = database(settings())
    try:
        with db.write() as session:
            made = create_eab_key(session, requester=requester, actor=cli_actor(), now=now())
    except CertgateError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"EAB key for requester {requester}; give both to the ACME client (--eab-kid, --eab-hmac-key):")
    click.echo(f"{made.kid} {made.hmac_key}")


@eab.command("list")
def eab_list() -> None:
    """Every EAB key: kid, requester, state, created (never the HMAC key)."""
    setup_logging()
    with database(settings()).read() as session:
        for key in list_eab_keys(session):
            state = "revoked" if key.revoked_at else (f"bound:{key.account_id}" if key.account_id else "unused")
            click.echo(f"{key.kid}\t{key.requester}\t{state}\t{key.created_at.isoformat()}")


@eab.command("revoke")
@click.argument("kid")
def eab_revoke(kid: str) -> None:
    """Revoke KID (and the account bound with it)."""
    setup_logging()
    db = database(settings())
    try:
        with db.write() as session:
            revoke_eab_key(session, kid=kid, actor=cli_actor(), now=now())
    except CertgateError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"revoked {kid}")


@acme.command("renew-all")
@click.option("--reason", required=True, help="why every certificate must be replaced (shown to ACME clients)")
def renew_all(reason: str) -> None:
    """ARI: tell every ACME client to renew, now, each certificate of the issuing CA issued so far."""
    setup_logging()
    s = settings()
    ca = CertificateAuthority.load(s.data_dir / "ca", s.ca_passphrase, s.base_url)
    try:
        with database(s).write() as session:
            mark_renew_all(session, issuing_cert=ca.issuing_cert, reason=reason, actor=cli_actor(), now=now())
    except CertgateError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo("every certificate issued so far is now due for renewal (ARI)")
