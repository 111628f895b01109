"""`certgate domains import|add|remove|list`."""

from __future__ import annotations

from pathlib import Path

import click

from service.cli.context import cli_actor, database, now, settings, setup_logging
from policies.suffixes import PublicSuffixes
from service.errors import CertgateError
from service.policy_store import load_policy
from service.public_suffixes import suffixes_for
from service.usecases.domains import add_domain, import_domains, list_domains, parse_domain_import, remove_domain


def _name_rules() -> tuple[PublicSuffixes, bool]:
    """The Public Suffix List and the private-trust switch of the policy in force."""
    loaded = load_policy(settings().policy_file)
    return suffixes_for(loaded.path, loaded.policy.names.public_suffix_file), loaded.policy.names.allow_internal


@click.group()
def domains() -> None:
    """Manage the owned-domain registry."""


@domains.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_(file: Path) -> None:
    """Load FILE (one `DOMAIN[,owner]` per line, `#` comments); all or nothing."""
    setup_logging()
    with file.open() as lines:
        suffixes, allow_internal = _name_rules()
        parsed = parse_domain_import(lines, suffixes, allow_internal=allow_internal)
    if parsed.rejected:
        for number, line, why in parsed.rejected[:50]:
            click.echo(f"line {number}: {line!r}: {why}", err=True)
        if len(parsed.rejected) > 50:
            click.echo(f"... and {len(parsed.rejected) - 50} more", err=True)
        raise click.ClickException(f"{len(parsed.rejected)} lines rejected; nothing imported")
    with database(settings()).write() as session:
        result = import_domains(session, parsed, actor=cli_actor(), now=now())
    click.echo(f"imported {result.added} domains ({result.unchanged} already registered); file sha256 {result.sha256}")


@domains.command("add")
@click.argument("domain")
@click.option("--owner", default="")
def add(domain: str, owner: str) -> None:
    """Register DOMAIN (and every name under it) as owned."""
    setup_logging()
    suffixes, allow_internal = _name_rules()
    try:
        with database(settings()).write() as session:
            row = add_domain(session, domain=domain, owner=owner, actor=cli_actor(), now=now(), suffixes=suffixes,
                             allow_internal=allow_internal)
    except CertgateError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"added {row.domain} (id {row.id})")


@domains.command("remove")
@click.argument("domain")
def remove(domain: str) -> None:
    """Remove the owned domain DOMAIN."""
    setup_logging()
    try:
        with database(settings()).write() as session:
            row = remove_domain(session, domain=domain, actor=cli_actor(), now=now())
    except CertgateError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"removed {row.domain}")


@domains.command("list")
@click.option("--owner", default=None, help="only this owner's domains")
def list_(owner: str | None) -> None:
    """Print every owned domain: id, domain, owner."""
    setup_logging()
    with database(settings()).read() as session:
        page = 1
        while True:
            rows, total = list_domains(session, page=page, per_page=500, owner=owner)
            for r in rows:
                click.echo(f"{r.id}\t{r.domain}\t{r.owner}")
            if page * 500 >= total:
                break
            page += 1
