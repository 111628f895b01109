"""`certgate submit`: a small client of the HTTP API."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

import click


@click.command()
@click.argument("csr_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--url", default="http://127.0.0.1:8000", show_default=True, envvar="CERTGATE_URL")
@click.option("--token", envvar="CERTGATE_TOKEN", required=True, help="API token (or CERTGATE_TOKEN)")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="where to write the chain (default: CSR_FILE with .chain.pem)")
@click.option("--validity-days", type=int, default=None)
@click.option("--justification", default=None)
def submit(csr_file: Path, url: str, token: str, out: Path | None, validity_days: int | None, justification: str | None) -> None:
    """Submit a CSR; write the certificate chain, or print the pending exception."""
    body: dict[str, object] = {"csr": csr_file.read_text()}
    if validity_days is not None:
        body["validity_days"] = validity_days
    if justification:
        body["justification"] = justification
    req = urllib.request.Request(
        url.rstrip("/") + "/api/v1/requests",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            status, answer = resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        error = json.loads(exc.read() or b"{}").get("error", {})
        click.echo(f"refused ({exc.code} {error.get('code')}): {error.get('message')}", err=True)
        for v in error.get("violations", []):
            click.echo(f"  - {v.get('code')}: {v.get('message')}", err=True)
        sys.exit(1)
    except urllib.error.URLError as exc:
        raise click.ClickException(f"cannot reach {url}: {exc.reason}") from exc
    if status == 201:
        cert = answer["certificate"]
        target = out or csr_file.with_suffix(".chain.pem")
        target.write_text(cert["pem"] + cert["chain_pem"])
        click.echo(f"issued {cert['serial_number']} (request {answer['id']}); chain written to {target}")
        return
    exc_info = answer.get("exception", {})
    click.echo(f"pending exception {exc_info.get('id')} for request {answer['id']}:")
    for v in answer.get("violations", []):
        click.echo(f"  - {v['code']}: {v['message']}")
    sys.exit(2)
