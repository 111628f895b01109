"""certgate against Cloudflare's cfssl, with the bare Flask issuer as the stack's own yardstick: one run, ratios.

    python bench/peer_cfssl.py [--duration 10] [--quick] [--rounds 3] [--servers cfssl,certgate,bare,bare+rows,batch]

For a P-256 and then an RSA-3072 issuing CA (made by `certgate init --ca-key-type`, keys unencrypted),
up to four servers run side by side on that very CA: `certgate serve --workers 2` with `[lint]
enabled = false` (issuance.py's target (c): every policy check, row and audit event, no pkilint);
`cfssl serve` with a signing profile shaped like certgate's leaf (bench/cfssl_peer.py); "bare",
bench/bare_issuer.py signing with the same CA files (Flask under certgate's gunicorn settings, no
policy, no rows: what the Python stack reaches without certgate); and "bare+rows", the bare issuer
that also commits certgate's rows with background checkpoints (issuance.py's target (f)) into a
copy of the database `certgate init` made; "batch", the same certgate server fed through
`POST /api/v1/batches`, 100 CSRs per call (issue #17: its row counts certificates per second). wrk POSTs the CSR pool (P-256 keys, a DNS name and an
owned IP each) to all: raw PKCS#10 to certgate and the bare issuers, pre-encoded JSON sign bodies
to cfssl. Each round measures c=1, 4, 16, rotating which server goes first; the server rows keep
each point's best round (the least disturbed by other load on the host), the ratio rows
(bare/cfssl, bare+rows/cfssl, certgate/cfssl, certgate/bare) the median [and range] of the
per-round ratios; the JSON (`bench/results/peer-cfssl-<time>.json`) keeps every run. Before
measuring, one leaf from each server is checked: it chains to the issuing CA and carries the CSR's SANs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cryptography import x509  # noqa: E402

from cfssl_peer import SIGN_PATH, cfssl_config, cfssl_sign, check_leaf, compare_leaves, running_cfssl, write_bodies  # noqa: E402
from harness import (  # noqa: E402
    BATCH_SIZE, BENCH, ROOT, TICKS, batch_leaf, certificates_stored, check_one, cpu_ticks, csr_pool, free_port,
    lint_off_policy, prepare_certgate, git_describe, run_wrk, running, sched_ns, split_pool, write_batch_bodies,
    write_results,
)
from peer_cfssl_table import CA_TYPES, CONCURRENCY, SERVERS, Point, pair_ratios_of, render  # noqa: E402


class _Measured(Protocol):
    @property
    def pids(self) -> list[int]: ...


@dataclass
class _Target:
    """A server under test and how wrk reaches it; `offset` is the next CSR of the pool to send."""

    server: _Measured
    workers: list[int]
    url: str
    source: Path  # the CSR pool (certgate) or its JSON sign bodies (cfssl)
    token: str | None
    body_format: str  # what wrk_post_csr.lua sends: "pkcs10", "cfssl" or "batch"
    offset: int = 0


def measure(t: _Target, ca: str, name: str, rnd: int, c: int, seconds: float) -> Point:
    """One wrk run with the server's CPU (all its processes) and run-queue time (its workers) from /proc."""
    load = os.getloadavg()
    pids = t.server.pids
    ticks0, sched0 = cpu_ticks(pids), sched_ns(t.workers)
    r = run_wrk(t.url, t.source, t.offset, c, seconds, t.token, t.body_format)
    ticks, wait_ns = cpu_ticks(pids) - ticks0, sched_ns(t.workers)[1] - sched0[1]
    done = r["created"] if t.body_format == "batch" else r["requests"]  # batch: certificates, not calls
    secs, n = r["duration_us"] / 1e6, max(done, 1)
    point = Point(ca, name, rnd, c, done, secs, done / secs, r["latency_us"]["p50"] / 1e3,
                  r["latency_us"]["p99"] / 1e3, r["other_status"] + sum(r["socket_errors"].values()),
                  ticks * 1e3 / TICKS / n, wait_ns / 1e6 / n, r["client_cpu_s"] / secs,
                  (round(load[0], 2), round(load[1], 2), round(load[2], 2)), detail={"wrk": r, "csr_offset": t.offset})
    print(f"  {ca:8} {name:9} r{rnd} c={c:<2} {point.rps:8.1f} req/s  p50 {point.p50_ms:7.1f} ms  "
          f"p99 {point.p99_ms:7.1f} ms  CPU {point.server_cpu_ms_per_request:6.2f} ms/req  errors {point.errors}  "
          f"load {load[0]:.2f}", file=sys.stderr)
    return point


def certgate_leaf(url: str, csr_pem: bytes, token: str) -> x509.Certificate:
    """One certgate issuance by hand (raw PKCS#10, as wrk sends it), the leaf out of the JSON answer."""
    req = urllib.request.Request(url, data=csr_pem, headers={"Content-Type": "application/pkcs10",
                                                              "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as answer:
        return x509.load_pem_x509_certificate(json.loads(answer.read())["certificate"]["pem"].encode())


def bare_leaf(url: str, csr_pem: bytes) -> x509.Certificate:
    """One bare issuer issuance by hand (raw PKCS#10, as wrk sends it): the answer is the leaf's PEM."""
    req = urllib.request.Request(url, data=csr_pem, headers={"Content-Type": "application/pkcs10"})
    with urllib.request.urlopen(req, timeout=30) as answer:
        return x509.load_pem_x509_certificate(answer.read())


def _batch_target(certgate: _Target, work: Path, pems: list[bytes]) -> _Target:
    """The certgate server again, fed 100 CSRs per `POST /api/v1/batches` call."""
    bodies = write_batch_bodies(pems[:-2], work / "batch-bodies.jsonl")  # the hand checks use the last two
    return _Target(certgate.server, certgate.workers, certgate.url.replace("/requests", "/batches"), bodies,
                   certgate.token, "batch")


def _start(stack: ExitStack, name: str, kind: str, data: Path, rows_db: Path, pool: Path, env: dict[str, str],
           work: Path, certgate_base: str) -> _Target:
    """Start one server on this kind's issuing CA (stopped when `stack` closes) and say how wrk reaches it."""
    ca = (data / "ca" / "issuing.pem", data / "ca" / "issuing.key.pem")
    if name == "cfssl":
        config = work / f"cfssl-{kind}.json"
        config.write_text(json.dumps(cfssl_config(certgate_base), indent=2))  # certgate's URLs in its leaves
        cf = stack.enter_context(running_cfssl(f"cfssl-{kind}", *ca, config, work))
        return _Target(cf, cf.workers, cf.base + SIGN_PATH, work / "cfssl-bodies.jsonl", None, "cfssl")
    if name == "certgate":
        base, port = certgate_base, certgate_base.rsplit(":", 1)[1]
        argv = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", port, "--workers", "2"]
        server_env = dict(env, CERTGATE_DATA_DIR=str(data), CERTGATE_BASE_URL=base,
                          CERTGATE_POLICY_FILE=str(lint_off_policy(work / "policy-lint-off.toml")))
        url = base + "/api/v1/requests"
    else:
        port = str(free_port())
        base = f"http://127.0.0.1:{port}"
        argv = [sys.executable, str(BENCH / "bare_issuer.py"), "--port", port, "--workers", "2",
                "--ca-cert", str(ca[0]), "--ca-key", str(ca[1])]
        if name == "bare+rows":
            argv += ["--rows", str(rows_db), "--checkpoint-thread"]  # issuance.py's target (f)
        server_env, url = env, base + "/issue"
    server = stack.enter_context(running(f"{name.replace('+', '-')}-{kind}", argv, server_env, base, work))
    return _Target(server, [pid for pid in server.pids if pid != server.proc.pid], url, pool, None, "pkcs10")


def _check_leaves(targets: dict[str, _Target], pem: bytes, token: str, issuer: x509.Certificate) -> dict[str, Any]:
    """One leaf from each server by hand: it must chain to `issuer` and carry the CSR's names (else PeerError)."""
    leaves: dict[str, x509.Certificate] = {}
    for name, t in targets.items():
        if name == "certgate":
            leaves[name] = certgate_leaf(t.url, pem, token)
        elif name == "batch":
            leaves[name] = x509.load_pem_x509_certificate(batch_leaf(t.url, pem, token))
        elif name == "cfssl":
            leaves[name] = cfssl_sign(t.url.removesuffix(SIGN_PATH), pem)
        else:
            leaves[name] = bare_leaf(t.url, pem)
    check: dict[str, Any] = {f"{name}_extensions": check_leaf(leaf, pem, issuer) for name, leaf in leaves.items()}
    check["signature_hashes"] = {name: getattr(leaf.signature_hash_algorithm, "name", "-")
                                 for name, leaf in leaves.items()}
    if "certgate" in leaves and "cfssl" in leaves:
        check["difference"] = compare_leaves(leaves["certgate"], leaves["cfssl"])
    return check


def run_ca_type(kind: str, label: str, pems: list[bytes], pool: Path, work: Path, env: dict[str, str],
                seconds: float, warmup: float, rounds: int,
                servers: tuple[str, ...] = SERVERS) -> tuple[list[Point], dict[str, Any]]:
    """The servers on one issuing CA: check a leaf from each, warm up, then rotate the order over the rounds."""
    data = work / f"data-{kind}"
    token = prepare_certgate(data, kind)
    # bare+rows writes into its own copy of the database certgate initialised, taken before certgate serves.
    shutil.copytree(data, work / f"rows-{kind}")
    rows_db = work / f"rows-{kind}" / "certgate.db"
    write_bodies(pems, work / "cfssl-bodies.jsonl")
    issuer = x509.load_pem_x509_certificate((data / "ca" / "issuing.pem").read_bytes())
    certgate_base = f"http://127.0.0.1:{free_port()}"
    points: list[Point] = []
    with ExitStack() as stack:
        needed = [name for name in servers if name != "batch"]
        if "batch" in servers and "certgate" not in needed:
            needed.append("certgate")
        targets = {name: _start(stack, name, kind, data, rows_db, pool, env, work,
                                        certgate_base) for name in needed}
        if "certgate" in targets:
            targets["certgate"].token = token
            # Hand checks use the pool's last CSRs; wrk starts at the first.
            check_one(targets["certgate"].url, pems[-1], token, False, certgate_base)
        if "batch" in servers:
            targets["batch"] = _batch_target(targets["certgate"], work, pems)
            if "certgate" not in servers:
                del targets["certgate"]
        check = _check_leaves(targets, pems[-2], token, issuer)
        print(f"  {label}: {', '.join(targets)}: each leaf chains to the issuing CA with the CSR's SANs; "
              f"signature hashes {check['signature_hashes']}; {check.get('difference', '')}", file=sys.stderr)
        for t in targets.values():
            t.offset = run_wrk(t.url, t.source, 0, 4, warmup, t.token, t.body_format)["requests"] + 5
        if "batch" in targets:  # calls, not CSRs: 5 would skip a quarter of the bodies
            targets["batch"].offset -= 4
        order = [s for s in SERVERS if s in targets]
        for rnd in range(rounds):
            for i, c in enumerate(CONCURRENCY):
                shift = (rnd + i) % len(order)  # each server leads as often as the others
                for name in order[shift:] + order[:shift]:
                    t = targets[name]
                    p = measure(t, label, name, rnd + 1, c, seconds)
                    t.offset += p.detail["wrk"]["requests"] + c  # in flight at the end: sent, not counted
                    points.append(p)
    for name, t in targets.items():
        sent = t.offset * BATCH_SIZE if name == "batch" else t.offset  # batch: calls of BATCH_SIZE CSRs
        check[f"{name}_csrs_sent"] = sent
        check[f"{name}_csrs_reused"] = max(0, sent - (len(pems) - 2))
    if "bare+rows" in targets:
        # Evidence that every answer left its rows: the copy's certificates against wrk's count.
        check["bare+rows_certificates_stored"] = certificates_stored(rows_db)
        check["bare+rows_answers_counted"] = sum(p.requests for p in points if p.server == "bare+rows")
    return points, check


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured point (default 10)")
    parser.add_argument("--quick", action="store_true", help="3 s points, 1 s warm-ups, 1 round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per CA type, alternating order (default 3)")
    parser.add_argument("--pool", type=int, default=8000, help="distinct CSRs in the pool (default 8000)")
    parser.add_argument("--servers", type=_servers, default=SERVERS, metavar="LIST",
                        help=f"comma-separated, of {','.join(SERVERS)} (default all)")
    args = parser.parse_args()
    seconds, warmup = (3.0, 1.0) if args.quick else (args.duration, 3.0)
    rounds = 1 if args.quick else args.rounds
    for tool, hint in (("wrk", "apt-get install -y wrk"), ("cfssl", "apt-get install -y golang-cfssl")):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not on PATH: {hint}")

    started = time.monotonic()
    meta: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(), "git": git_describe(ROOT), "cpus": os.cpu_count(),
        "cfssl_version": _cfssl_version(), "seconds_per_point": seconds, "warmup_seconds": warmup,
        "rounds": rounds, "concurrency": list(CONCURRENCY), "pool_size": args.pool, "wrk_threads": 1,
        "certgate_workers": 2, "bare_workers": 2, "servers": list(args.servers), "batch_size": BATCH_SIZE,
        "loadavg": {"before": os.getloadavg()},
    }
    print(f"generating/loading a pool of {args.pool} P-256 CSRs ...", file=sys.stderr)
    pool = csr_pool(args.pool)
    pems = split_pool(pool)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTGATE_")}
    env["PYTHONPATH"] = str(ROOT)
    points: list[Point] = []
    checks: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="certgate-peer-") as tmp:
        for kind, label in CA_TYPES:
            print(f"{label} issuing CA: {', '.join(args.servers)} ...", file=sys.stderr)
            found, checks[label] = run_ca_type(kind, label, pems, pool, Path(tmp), env, seconds, warmup, rounds,
                                               args.servers)
            points += found
            meta["loadavg"][f"after {label}"] = os.getloadavg()
    meta["total_seconds"] = round(time.monotonic() - started, 1)
    pairs = pair_ratios_of(points)
    table = render(points, meta, pairs)
    print(table)
    # `ratios` stays certgate/cfssl, as before the bare servers; `pair_ratios` holds every pair of PAIRS.
    ratios = {label: by_pair["certgate/cfssl"] for label, by_pair in pairs.items()}
    doc = {"meta": meta, "checks": checks, "points": [asdict(p) for p in points], "ratios": ratios,
           "pair_ratios": pairs, "table": table}
    written = write_results("peer-cfssl", doc)
    print(f"\nwritten bench/results/{written} in {meta['total_seconds']} s", file=sys.stderr)


def _servers(text: str) -> tuple[str, ...]:
    """"cfssl,bare" -> ("cfssl", "bare"), in SERVERS order.

    Raises:
        argparse.ArgumentTypeError: an unknown or no server name.
    """
    names = {n.strip() for n in text.split(",") if n.strip()}
    if not names or names - set(SERVERS):
        raise argparse.ArgumentTypeError(f"choose from {', '.join(SERVERS)}, not {text!r}")
    return tuple(s for s in SERVERS if s in names)


def _cfssl_version() -> str:
    """"cfssl 1.2.0, go1.19.8" from `cfssl version` ("Version: 1.2.0", "Runtime: go1.19.8")."""
    done = subprocess.run(["cfssl", "version"], capture_output=True, text=True)
    fields = dict(line.split(": ", 1) for line in (done.stdout or done.stderr).splitlines() if ": " in line)
    return f"cfssl {fields.get('Version', '?')}, {fields.get('Runtime', 'go ?')}"


if __name__ == "__main__":
    main()
