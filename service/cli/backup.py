"""`certgate backup DEST` and `certgate restore SRC`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from service.backup.restore import restore as restore_backup
from service.backup.snapshot import take_backup
from service.cli.context import cli_actor, now, settings, setup_logging
from service.errors import CertgateError


@click.command()
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
def backup(dest: Path) -> None:
    """Write one consistent snapshot (database, CA files, audit-log key, policy) with a signed manifest to DEST."""
    setup_logging()
    try:
        manifest = take_backup(settings(), dest, now())
    except CertgateError as exc:
        click.echo(f"backup refused: {exc.message}", err=True)
        sys.exit(1)
    click.echo(f"backup written to {dest}: {len(manifest.files)} files, {manifest.database} database, "
               f"taken {manifest.created_at.isoformat()}")


@click.command()
@click.argument("src", type=click.Path(file_okay=False, exists=True, path_type=Path))
def restore(src: Path) -> None:
    """Restore SRC into the configured new data dir; check the manifest, the CA chain and the audit log first."""
    setup_logging()
    s = settings()
    try:
        report = restore_backup(s, src, now(), cli_actor())
    except CertgateError as exc:
        click.echo(f"restore refused: {exc.message}", err=True)
        sys.exit(1)
    click.echo(f"CA chain verified: root and issuing CA {', '.join(map(str, report.generations))}")
    click.echo(f"audit log verified: {report.audit_tree_size} entries (the restore itself recorded as the last)")
    if report.policy_file.read_bytes() != s.policy_file.read_bytes():
        click.echo(f"the backup's policy differs from CERTGATE_POLICY_FILE: set CERTGATE_POLICY_FILE={report.policy_file}")
    click.echo(f"restored into {s.data_dir} (backup taken {report.manifest.created_at.isoformat()})")
