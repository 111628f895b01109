"""`certgate crl` and `certgate exceptions expire`: jobs an operator or cron runs."""

from __future__ import annotations

from pathlib import Path

import click

from service.cli.context import now, settings, setup_logging
from service.process.runtime import Runtime
from service.usecases.review import expire_due


@click.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="file for the DER CRL")
@click.option("--root", is_flag=True, help="the root CA's CRL instead of the issuing CA's")
@click.option("--ca", "generation", type=click.IntRange(1), default=1, show_default=True,
              help="which issuing CA's CRL (`certgate ca status` lists them)")
def crl(out: Path, root: bool, generation: int) -> None:
    """Write the current CRL (DER), rebuilding it first when it is due."""
    setup_logging()
    rt = Runtime.open(settings())
    der = rt.revocation.root_crl(now()) if root else rt.revocation.crl(now(), generation)
    out.write_bytes(der)
    click.echo(f"wrote {len(der)} bytes to {out}")


@click.group()
def exceptions() -> None:
    """Maintain the exception queue."""


@exceptions.command("expire")
def expire() -> None:
    """Expire every pending exception past its deadline (each with its audit event)."""
    setup_logging()
    rt = Runtime.open(settings())
    click.echo(f"expired {expire_due(rt.db, now())} exceptions")
