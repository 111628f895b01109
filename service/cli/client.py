"""`certgate submit`: a small client of the HTTP API that retries safely (`Idempotency-Key`)."""

from __future__ import annotations

import http.client
import json
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import click

from service.cli.batch import MAX_ITEMS_PER_CALL, collect, report, run_batch

MAX_WAIT_SECONDS = 10.0  # the longest pause between two attempts, whatever Retry-After says


def _retry_after(exc: urllib.error.HTTPError, fallback: float) -> float:
    """The pause a 503 asks for (seconds form only), bounded by `MAX_WAIT_SECONDS`."""
    value = exc.headers.get("Retry-After", "")
    try:
        return min(max(float(value), 0.0), MAX_WAIT_SECONDS)
    except ValueError:
        return fallback


def post_with_retries(req: urllib.request.Request, *, attempts: int, url: str) -> tuple[int, Any]:
    """POST `req` until it gets an answer other than 503; retried on connection errors too.

    Safe only because `req` carries an Idempotency-Key: a retry of a request whose answer was
    lost gets the first result again, never a second certificate.

    Raises:
        urllib.error.HTTPError: an error answer other than 503, or a 503 on the last attempt.
        click.ClickException: the server could not be reached on any attempt.
    """
    pause = 0.5
    for attempt in range(1, attempts + 1):
        last = attempt == attempts
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            if exc.code != 503 or last:
                raise
            wait = _retry_after(exc, pause)
            reason = "503 unavailable"
        except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out, cut short
            if last:
                detail = exc.reason if isinstance(exc, urllib.error.URLError) else exc
                raise click.ClickException(f"cannot reach {url}: {detail}") from exc
            wait, reason = pause, f"{type(exc).__name__}: {exc}"
        click.echo(f"attempt {attempt} failed ({reason}); retrying in {wait:.1f} s", err=True)
        time.sleep(wait)
        pause = min(pause * 2, MAX_WAIT_SECONDS)
    raise AssertionError("unreachable")


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
@click.option("--idempotency-key", default=None,
              help="the Idempotency-Key to send (default: a new random one); reuse it to retry by hand "
                   "(with --batch, call n sends KEY-n)")
@click.option("--retries", type=click.IntRange(0, 20), default=4, show_default=True,
              help="retries on connection errors and 503 answers (with the same key)")
def submit(csr_file: Path | None, batch_path: Path | None, batch_size: int, url: str, token: str, out: Path | None,
           validity_days: int | None, justification: str | None, idempotency_key: str | None, retries: int) -> None:
    """Submit a CSR; write the certificate chain, or print the pending exception.

    With --batch, many CSRs at once, with a progress bar. Every call carries an Idempotency-Key,
    so the retries on connection errors and 503 answers never issue twice.
    """
    if (csr_file is None) == (batch_path is None):
        raise click.UsageError("give either CSR_FILE or --batch DIR|FILE")
    if batch_path is not None:
        if out is not None:
            raise click.UsageError("--out names one chain; with --batch each chain goes next to its CSR")
        options: dict[str, object] = {}
        if validity_days is not None:
            options["validity_days"] = validity_days
        if justification:
            options["justification"] = justification
        _submit_batch(batch_path, batch_size, url, token, options, idempotency_key or str(uuid.uuid4()), retries)
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
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}",
                 "Idempotency-Key": idempotency_key or str(uuid.uuid4())},
        method="POST",
    )
    try:
        status, answer = post_with_retries(req, attempts=retries + 1, url=url)
    except urllib.error.HTTPError as exc:
        error = json.loads(exc.read() or b"{}").get("error", {})
        click.echo(f"refused ({exc.code} {error.get('code')}): {error.get('message')}", err=True)
        for v in error.get("violations", []):
            click.echo(f"  - {v.get('code')}: {v.get('message')}", err=True)
        sys.exit(1)
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


def _submit_batch(path: Path, per_call: int, url: str, token: str, options: dict[str, object], key: str,
                  retries: int) -> None:
    items = collect(path)
    try:
        tally = run_batch(items, url=url, token=token, per_call=per_call, options=options, key=key,
                          post=lambda req: post_with_retries(req, attempts=retries + 1, url=url))
    except urllib.error.HTTPError as exc:
        error = json.loads(exc.read() or b"{}").get("error", {})
        raise click.ClickException(f"batch refused ({exc.code} {error.get('code')}): {error.get('message')}") from exc
    sys.exit(report(tally))
