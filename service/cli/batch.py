"""`certgate submit --batch DIR|FILE`: many CSRs through `POST /api/v1/batches`, certificates written beside them."""

from __future__ import annotations

import base64
import json
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

MAX_ITEMS_PER_CALL = 1000  # the server's limit per batch
MAX_CALL_BYTES = 3 * 1024 * 1024  # below the server's default 4 MiB per batch, whatever the CSRs' size
_PEM_CSR = re.compile(rb"-----BEGIN (NEW )?CERTIFICATE REQUEST-----.+?-----END (NEW )?CERTIFICATE REQUEST-----\s*", re.S)

Post = Callable[[urllib.request.Request], tuple[int, Any]]


@dataclass(frozen=True)
class BatchItem:
    """One CSR to send and where its certificate goes."""

    source: str  # what to call it in messages: the file, or FILE#n
    csr_pem: str
    target: Path


def collect(path: Path) -> list[BatchItem]:
    """The CSRs to send: every `*.csr` in a folder (name.csr -> name.crt), or each PEM CSR of a
    file of concatenated CSRs (estate.pem -> estate-0001.crt, ... in file order).

    Raises:
        click.ClickException: nothing to send, or a file holds no PEM CSR.
    """
    if path.is_dir():
        items = [BatchItem(str(f), _one_csr(f), f.with_suffix(".crt")) for f in sorted(path.glob("*.csr"))]
    else:
        blocks = [m.group(0).decode("ascii", "replace") for m in _PEM_CSR.finditer(path.read_bytes())]
        width = max(4, len(str(len(blocks))))
        items = [BatchItem(f"{path}#{n}", pem, path.with_name(f"{path.stem}-{n:0{width}d}.crt"))
                 for n, pem in enumerate(blocks, start=1)]
    if not items:
        raise click.ClickException(f"no CSR in {path} (a folder of *.csr files, or a file of PEM CSRs)")
    return items


def _one_csr(file: Path) -> str:
    """A CSR file as text: PEM as it is (the server judges it), DER wrapped as PEM."""
    data = file.read_bytes()
    if data.lstrip().startswith(b"-----BEGIN"):
        return data.decode("ascii", "replace")
    body = base64.encodebytes(data).decode().replace("\n", "")
    lines = "\n".join(body[i:i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN CERTIFICATE REQUEST-----\n{lines}\n-----END CERTIFICATE REQUEST-----\n"


@dataclass
class Tally:
    """What came back, for the summary and the exit status."""

    issued: int = 0
    pending: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def run_batch(items: list[BatchItem], *, url: str, token: str, per_call: int, options: dict[str, Any], key: str,
              post: Post) -> Tally:
    """Send `items` in calls of `per_call`, call n with the Idempotency-Key `KEY-n` (the same run
    with the same key replays the calls that went through); write each issued chain (leaf, then
    the CA chain) to its target; count the rest.

    Raises:
        urllib.error.HTTPError: the server refused a whole call.
    """
    tally = Tally()
    with click.progressbar(length=len(items), label="issuing", file=sys.stderr) as bar:
        for n, chunk in enumerate(_calls(items, per_call, len(json.dumps(options))), start=1):
            body = {"items": [{"csr": item.csr_pem, **options} for item in chunk]}
            req = urllib.request.Request(
                url.rstrip("/") + "/api/v1/batches", data=json.dumps(body).encode(), method="POST",
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}",
                         "Idempotency-Key": f"{key}-{n}"})
            _, answer = post(req)
            for item, result in zip(chunk, answer["items"], strict=True):
                if "certificate" in result:
                    cert = result["certificate"]
                    _write(item.target, cert["pem"] + cert["chain_pem"])
                    tally.issued += 1
                elif result["status"] == "pending_exception":
                    tally.pending.append(f"{item.source}: pending exception {result['exception']['id']} "
                                         f"({', '.join(v['code'] for v in result['violations'])})")
                else:
                    error = result.get("error", {})
                    tally.refused.append(f"{item.source}: {error.get('code')}: {error.get('message')}")
            bar.update(len(chunk))
    return tally


def _calls(items: list[BatchItem], per_call: int, options_bytes: int) -> list[list[BatchItem]]:
    """`items` cut into calls of at most `per_call` items and about MAX_CALL_BYTES each."""
    calls: list[list[BatchItem]] = [[]]
    size = 0
    for item in items:
        cost = len(item.csr_pem) * 2 + options_bytes + 16  # JSON escaping at most doubles a PEM
        if calls[-1] and (len(calls[-1]) >= per_call or size + cost > MAX_CALL_BYTES):
            calls.append([])
            size = 0
        calls[-1].append(item)
        size += cost
    return calls


def _write(target: Path, text: str) -> None:
    """Replace `target` whole (a reissue overwrites the old chain, never half of it)."""
    partial = target.with_name(target.name + ".part")
    partial.write_text(text)
    partial.replace(target)


def report(tally: Tally) -> int:
    """Print the summary; the exit status: 0 all issued, 2 some wait for approval, 1 some refused."""
    click.echo(f"issued {tally.issued}, pending exception {len(tally.pending)}, refused {len(tally.refused)}")
    for line in tally.pending:
        click.echo(f"  {line}")
    for line in tally.refused:
        click.echo(f"  {line}", err=True)
    return 1 if tally.refused else 2 if tally.pending else 0
