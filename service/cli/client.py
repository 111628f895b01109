"""`certgate submit`: a small client of the HTTP API."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

import click

from service.cli.batch import MAX_ITEMS_PER_CALL, collect, report, run_batch, urlopen_json


@click.command()
@click.argument("csr_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=False)
@click.option("--batch", "batch_path", type=click.Path(exists=True, path_type=Path), default=None,
              help="a folder of *.csr files, or a file of PEM CSRs: sent through /api/v1/batches, "
                   "each certificate written next to its CSR (name.csr -> name.crt)")
@click.option("--batch-size", type=click.IntRange(1, MAX_ITEMS_PER_CALL), default=100, show_default=True,
              help="CSRs per call with --batch")
@click.option("--url", default="http://127.0.0.1:8000", show_default=True, envvar="CERTGATE_URL")
@click.option("--token", envvar="CERTGATE_TOKEN", required=True, help="API token (or CERTGATE_TOKEN)")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="where to write the chain (default: CSR_FILE with .chain.pem)")
@click.option("--validity-days", type=int, default=None)
@click.option("--justification", default=None)
def submit(csr_file: Path | None, batch_path: Path | None, batch_size: int, url: str, token: str, out: Path | None,
           validity_days: int | None, justification: str | None) -> None:
    """Submit a CSR; write the certificate chain, or print the pending exception.

    With --batch, many CSRs at once, with a progress bar.
    """
    if (csr_file is None) == (batch_path is None):
        raise click.UsageError("give either CSR_FILE or --batch DIR|FILE")
    if batch_path is not None:
        _submit_batch(batch_path, batch_size, url, token, validity_days, justification)
        return
    assert csr_file is not None
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


def _submit_batch(path: Path, per_call: int, url: str, token: str, validity_days: int | None,
                  justification: str | None) -> None:
    options: dict[str, object] = {}
    if validity_days is not None:
        options["validity_days"] = validity_days
    if justification:
        options["justification"] = justification
    items = collect(path)
    try:
        tally = run_batch(items, url=url, token=token, per_call=per_call, options=options, post=urlopen_json)
    except urllib.error.HTTPError as exc:
        error = json.loads(exc.read() or b"{}").get("error", {})
        raise click.ClickException(f"batch refused ({exc.code} {error.get('code')}): {error.get('message')}") from exc
    except urllib.error.URLError as exc:
        raise click.ClickException(f"cannot reach {url}: {exc.reason}") from exc
    sys.exit(report(tally))
