"""`certgate ranges import|add|remove|list`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from service.cli.context import cli_actor, database, now, settings, setup_logging
from service.errors import CertgateError
from service.usecases.ranges import add_range, import_ranges, list_ranges, parse_import, remove_range


@click.group()
def ranges() -> None:
    """Manage the owned-range registry."""


@ranges.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_(file: Path) -> None:
    """Load FILE (one `CIDR[,owner]` per line, `#` comments); all or nothing."""
    setup_logging()
    db = database(settings())
    size = sum(1 for _ in file.open())
    with file.open() as lines, click.progressbar(length=size, label="checking", file=sys.stderr) as bar:
        parsed = parse_import(lines, progress=bar.update)
        bar.update(size)
    if parsed.rejected:
        for number, line, why in parsed.rejected[:50]:
            click.echo(f"line {number}: {line!r}: {why}", err=True)
        if len(parsed.rejected) > 50:
            click.echo(f"... and {len(parsed.rejected) - 50} more", err=True)
        raise click.ClickException(f"{len(parsed.rejected)} lines rejected; nothing imported")
    click.echo(f"writing {len(parsed.ranges)} ranges ...", err=True)
    with db.write() as session:
        result = import_ranges(session, parsed, actor=cli_actor(), now=now())
    click.echo(f"imported {result.added} ranges ({result.unchanged} already registered); file sha256 {result.sha256}")


@ranges.command("add")
@click.argument("cidr")
@click.option("--owner", default="")
def add(cidr: str, owner: str) -> None:
    """Register CIDR as owned."""
    setup_logging()
    try:
        with database(settings()).write() as session:
            row = add_range(session, cidr=cidr, owner=owner, actor=cli_actor(), now=now())
    except CertgateError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"added {row.cidr} (id {row.id})")


@ranges.command("remove")
@click.argument("cidr")
def remove(cidr: str) -> None:
    """Remove the range CIDR."""
    setup_logging()
    try:
        with database(settings()).write() as session:
            row = remove_range(session, cidr=cidr, actor=cli_actor(), now=now())
    except CertgateError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"removed {row.cidr}")


@ranges.command("list")
def list_() -> None:
    """Print every range: id, CIDR, owner."""
    setup_logging()
    with database(settings()).read() as session:
        page = 1
        while True:
            rows, total = list_ranges(session, page=page, per_page=500)
            for r in rows:
                click.echo(f"{r.id}\t{r.cidr}\t{r.owner}")
            if page * 500 >= total:
                break
            page += 1
