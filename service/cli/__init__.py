"""The `certgate` command line: click commands calling the same use cases as the API."""

from __future__ import annotations

import click

from service.cli.acme import acme
from service.cli.audit import audit, certs
from service.cli.backup import backup, restore
from service.cli.ca import ca
from service.cli.client import submit
from service.cli.domains import domains
from service.cli.operations import crl, exceptions
from service.cli.ranges import ranges
from service.cli.setup import init, serve
from service.cli.tokens import token
from service.errors import CertgateError


class _Commands(click.Group):
    """Any certgate failure a command lets through (a locked token, a missing CA) exits 1 with its message."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except CertgateError as exc:
            raise click.ClickException(exc.message) from None


@click.group(cls=_Commands)
def main() -> None:
    """certgate: TLS certificates under a strict, auditable policy."""


for command in (init, serve, token, ranges, domains, audit, certs, crl, exceptions, submit, ca, backup, restore, acme):
    main.add_command(command)
