"""`certgate token create|revoke`."""

from __future__ import annotations

import click

from service.cli.context import cli_actor, database, now, settings, setup_logging
from service.domain import Role
from service.errors import CertgateError
from service.tokens import create_token, revoke_token


@click.group()
def token() -> None:
    """Manage API tokens (only their SHA-256 is stored)."""


@token.command("create")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--name", required=True)
def create(role: str, name: str) -> None:
    """Print a new token as the last line of stdout."""
    setup_logging()
    db = database(settings())
    try:
        with db.write() as session:
            secret = create_token(session, name=name, role=Role(role), actor=cli_actor(), now=now())
    except CertgateError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"token for {name} ({role}); shown once, store it now:")
    click.echo(secret)


@token.command("revoke")
@click.argument("name")
def revoke(name: str) -> None:
    """Revoke the token called NAME."""
    setup_logging()
    db = database(settings())
    try:
        with db.write() as session:
            revoke_token(session, name=name, actor=cli_actor(), now=now())
    except CertgateError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"revoked {name}")
