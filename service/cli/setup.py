"""`certgate init` and `certgate serve`."""

from __future__ import annotations

import click

from service.bootstrap import initialize, is_initialized
from service.ca.keystore import CaKeyType
from service.cli.context import now, settings, setup_logging


@click.command()
@click.option("--ca-key-type", type=click.Choice([k.value for k in CaKeyType]), default=None,
              help="issuing CA key type (default p256 under a p384 root)")
def init(ca_key_type: str | None) -> None:
    """Create the data dir, root and issuing CA, database and audit-log key (idempotent)."""
    setup_logging()
    s = settings()
    report = initialize(s, key_type=CaKeyType(ca_key_type or CaKeyType.P256), now=now())
    click.echo(f"data dir: {report.data_dir}")
    click.echo("CA: created" if report.ca_created else "CA: exists, left untouched")
    click.echo("audit-log key: created" if report.log_key_created else "audit-log key: exists, left untouched")
    click.echo("database: migrated to the newest schema")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
def serve(host: str, port: int, workers: int) -> None:
    """Run the API under gunicorn; runs `init` first where nothing exists yet."""
    from service.app import create_app
    from service.server import GunicornServer, server_options

    setup_logging()
    s = settings()
    if not is_initialized(s):
        initialize(s, key_type=CaKeyType.P256, now=now())
    else:
        from service.db.migrate import upgrade

        upgrade(s.database_url)
    click.echo(f"certgate serving on http://{host}:{port} ({workers} workers)", err=True)
    GunicornServer(create_app(s), server_options(host, port, workers)).run()
