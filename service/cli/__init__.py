"""The `certgate` command line: click commands calling the same use cases as the API."""

from __future__ import annotations

import click

from service.cli.acme import acme
from service.cli.audit import audit, certs
from service.cli.client import submit
from service.cli.operations import crl, exceptions
from service.cli.ranges import ranges
from service.cli.setup import init, serve
from service.cli.tokens import token


@click.group()
def main() -> None:
    """certgate: TLS certificates under a strict, auditable policy."""


for command in (init, serve, token, ranges, audit, certs, crl, exceptions, submit, acme):
    main.add_command(command)
