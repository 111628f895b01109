"""`certgate init` and `certgate serve`."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from flask import Flask

from service.process.bootstrap import initialize, is_initialized
from service.ca.keystore import CaKeyType
from service.cli.context import cli_actor, now, settings, setup_logging
from service.errors import CertgateError

if TYPE_CHECKING:
    from service.ca.authority import CertificateAuthority
    from service.process.runtime import Runtime

SERVERS = ("auto", "granian", "gunicorn")
DEFAULT_SERVER = "auto"
GRANIAN_MIN_BACKLOG = 128  # granian raises any smaller listen backlog to this


def pick_server(kind: str, *, tls: bool, backlog: int) -> str:
    """`auto`: granian (measured faster), unless the options ask for what only gunicorn keeps.

    With `--tls`, gunicorn's OpenSSL context answers in the server's suite order (AES-256
    first); granian's rustls offers the same suites and versions but follows the client's order.
    A backlog below 128 is honoured by gunicorn only.
    """
    if kind != "auto":
        return kind
    return "gunicorn" if tls or backlog < GRANIAN_MIN_BACKLOG else "granian"


@click.command()
@click.option("--ca-key-type", type=click.Choice([k.value for k in CaKeyType]), default=None,
              help="issuing CA key type (default p256 under a p384 root)")
@click.option("--hsm", is_flag=True,
              help="generate the CA keys inside the PKCS#11 token (CERTGATE_PKCS11_*), non-extractable")
def init(ca_key_type: str | None, hsm: bool) -> None:
    """Create the data dir, root and issuing CA, database and audit-log key (idempotent)."""
    setup_logging()
    s = settings()
    try:
        report = initialize(s, key_type=CaKeyType(ca_key_type or CaKeyType.P256), now=now(), hsm=hsm,
                            actor=cli_actor())
    except CertgateError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"data dir: {report.data_dir}")
    click.echo("CA: created" if report.ca_created else "CA: exists, left untouched")
    if report.ceremony is not None:
        for key in report.ceremony.keys:
            click.echo(f"key {key.role}: {key.location} {key.key_type} sha256 {key.spki_sha256}")
        click.echo("key ceremony: recorded in the audit log (ca:key_ceremony)")
    click.echo("audit-log key: created" if report.log_key_created else "audit-log key: exists, left untouched")
    click.echo("database: migrated to the newest schema")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
@click.option("--backlog", default=2048, show_default=True, type=click.IntRange(1),
              help="connections the kernel queues before refusing new ones")
@click.option("--tls", is_flag=True, help="serve HTTPS with a certificate from certgate's own issuing CA")
@click.option("--tls-name", "tls_names", multiple=True, metavar="NAME",
              help="another DNS name or IP for the server certificate (repeatable)")
@click.option("--server", "server_kind", type=click.Choice(SERVERS), default=DEFAULT_SERVER, show_default=True,
              help="the HTTP server: auto is granian, or gunicorn with --tls or a backlog below 128")
def serve(host: str, port: int, workers: int, backlog: int, tls: bool, tls_names: tuple[str, ...],
          server_kind: str) -> None:
    """Run the API under granian or gunicorn; runs `init` first where nothing exists yet."""
    setup_logging()
    s = settings()
    server_kind = pick_server(server_kind, tls=tls, backlog=backlog)
    metrics_dir = prepare_metrics_dir(s.data_dir)
    from service.process.app import create_app  # after the metrics dir is set: prometheus reads it at import
    from service.process.observability import configure_logging
    from service.process.server import GunicornServer, server_options

    if not is_initialized(s):
        initialize(s, key_type=CaKeyType.P256, now=now())
    else:
        from service.db.migrate import upgrade

        upgrade(s.database_url)
    configure_logging()
    app = create_app(s)
    app.config["CERTGATE_METRICS_MULTIPROCESS"] = True
    app.extensions["certgate"].warm_up()
    options = server_options(host, port, workers, backlog=backlog) | {"metrics_dir": str(metrics_dir)}
    scheme = "http"
    if tls:
        options |= _tls(app, s.data_dir, host, tls_names)
        app.config["SESSION_COOKIE_SECURE"] = True  # the console's cookie never travels over plain HTTP
        scheme = "https"
    click.echo(f"certgate serving on {scheme}://{host}:{port} ({workers} {server_kind} workers)", err=True)
    if server_kind == "granian":
        _serve_granian(app, s.data_dir, host, port, workers, backlog, tls, tls_names)
    else:
        GunicornServer(app, options).run()


def _serve_granian(app: Flask, data_dir: Path, host: str, port: int, workers: int, backlog: int, tls: bool,
                   tls_names: tuple[str, ...]) -> None:
    from service.process.granian_server import GranianOptions, run_granian

    options = GranianOptions(host, port, workers, backlog)
    if tls:
        from service.process.runtime import Runtime
        from service.process.tls import ServerNames, TlsPaths, ensure_server_certificate

        runtime: Runtime = app.extensions["certgate"]
        paths = TlsPaths(data_dir / "tls")
        names = ServerNames.for_host(host, tls_names)

        def renew() -> bool:
            return ensure_server_certificate(runtime.ca, paths, names, runtime.clock())

        options = GranianOptions(host, port, workers, backlog, tls_cert=paths.cert, tls_key=paths.key, tls_renew=renew)
    run_granian(app, options)


def _tls(app: Flask, data_dir: Path, host: str, extra_names: tuple[str, ...]) -> dict[str, Any]:
    """Issue (or keep) the server certificate and build gunicorn's SSL settings."""
    from service.process.runtime import Runtime
    from service.process.server import tls_options
    from service.process.tls import ServerNames, TlsContextSource, TlsPaths, ensure_server_certificate

    runtime: Runtime = app.extensions["certgate"]
    paths = TlsPaths(data_dir / "tls")
    names = ServerNames.for_host(host, extra_names)
    if ensure_server_certificate(runtime.ca, paths, names, now()):
        click.echo(f"TLS: issued a server certificate for {', '.join(names.dns + names.ips)}", err=True)
    return tls_options(paths, TlsContextSource(lambda: _signer(runtime), paths, names, runtime.clock))


def _signer(runtime: Runtime) -> CertificateAuthority:
    """The CA that signs now; with the database unreachable, the one this process last knew of."""
    from service.errors import ServiceUnavailable

    try:
        return runtime.ca
    except ServiceUnavailable:
        return runtime.roster.signer(runtime.clock())


def prepare_metrics_dir(data_dir: Path) -> Path:
    """An empty folder for prometheus-client's multiprocess files, exported to the workers."""
    metrics_dir = data_dir / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True, mode=0o700)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    return metrics_dir
