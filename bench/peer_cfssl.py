"""certgate against Cloudflare's cfssl: the same CSRs, the same concurrency, one run, ratios per CA type.

    python bench/peer_cfssl.py [--duration 10] [--quick] [--rounds 3]

For a P-256 and then an RSA-3072 issuing CA (made by `certgate init --ca-key-type`, keys unencrypted),
two servers run side by side on that very CA: `certgate serve --workers 2` with `[lint] enabled =
false` (issuance.py's target (c): every policy check, row and audit event, no pkilint), and `cfssl
serve` with a signing profile shaped like certgate's leaf (bench/cfssl_peer.py). wrk POSTs the CSR
pool (P-256 keys, a DNS name and an owned IP each) to both: raw PKCS#10 to certgate, pre-encoded
JSON sign bodies to cfssl. Each round measures c=1, 4, 16, alternating which server goes first;
the server rows keep each point's best round (the least disturbed by other load on the host), the
ratio rows the median [and range] of the per-round ratios, each taken from two back-to-back runs;
the JSON (`bench/results/peer-cfssl-<time>.json`) keeps every run. Before measuring, one leaf from each
server is checked: it chains to the issuing CA and carries the CSR's SANs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cryptography import x509  # noqa: E402

from cfssl_peer import SIGN_PATH, cfssl_config, cfssl_sign, check_leaf, compare_leaves, running_cfssl, write_bodies  # noqa: E402
from harness import (  # noqa: E402
    ROOT, TICKS, check_one, cpu_ticks, csr_pool, free_port, lint_off_policy, prepare_certgate,
    git_describe, run_wrk, running, sched_ns, split_pool, write_results,
)

CONCURRENCY = (1, 4, 16)
CA_TYPES = (("p256", "P-256"), ("rsa3072", "RSA-3072"))
TARGETS = {"rsa3072": 1.0, "p256": 0.5}  # issue #6: certgate/cfssl req/s at c=16 at least this


class _Measured(Protocol):
    @property
    def pids(self) -> list[int]: ...


@dataclass(frozen=True)
class Point:
    """One wrk run: a server, a CA type, a concurrency, a round."""

    ca: str
    server: str  # "certgate" or "cfssl"
    round: int
    concurrency: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # answers other than an issued certificate, plus socket errors
    server_cpu_ms_per_request: float
    server_runq_ms_per_request: float  # server threads runnable but waiting for a CPU
    client_cpu_per_second: float  # wrk's CPU, in cores
    loadavg: tuple[float, float, float]
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Target:
    """A server under test and how wrk reaches it; `offset` is the next CSR of the pool to send."""

    server: _Measured
    workers: list[int]
    url: str
    source: Path  # the CSR pool (certgate) or its JSON sign bodies (cfssl)
    token: str | None
    body_format: str  # what wrk_post_csr.lua sends: "pkcs10" or "cfssl"
    offset: int = 0


def measure(t: _Target, ca: str, name: str, rnd: int, c: int, seconds: float) -> Point:
    """One wrk run with the server's CPU (all its processes) and run-queue time (its workers) from /proc."""
    load = os.getloadavg()
    pids = t.server.pids
    ticks0, sched0 = cpu_ticks(pids), sched_ns(t.workers)
    r = run_wrk(t.url, t.source, t.offset, c, seconds, t.token, t.body_format)
    ticks, wait_ns = cpu_ticks(pids) - ticks0, sched_ns(t.workers)[1] - sched0[1]
    secs, n = r["duration_us"] / 1e6, max(r["requests"], 1)
    point = Point(ca, name, rnd, c, r["requests"], secs, r["requests"] / secs, r["latency_us"]["p50"] / 1e3,
                  r["latency_us"]["p99"] / 1e3, r["other_status"] + sum(r["socket_errors"].values()),
                  ticks * 1e3 / TICKS / n, wait_ns / 1e6 / n, r["client_cpu_s"] / secs,
                  (round(load[0], 2), round(load[1], 2), round(load[2], 2)), detail={"wrk": r, "csr_offset": t.offset})
    print(f"  {ca:8} {name:8} r{rnd} c={c:<2} {point.rps:8.1f} req/s  p50 {point.p50_ms:7.1f} ms  "
          f"p99 {point.p99_ms:7.1f} ms  CPU {point.server_cpu_ms_per_request:6.2f} ms/req  errors {point.errors}  "
          f"load {load[0]:.2f}", file=sys.stderr)
    return point


def certgate_leaf(url: str, csr_pem: bytes, token: str) -> x509.Certificate:
    """One certgate issuance by hand (raw PKCS#10, as wrk sends it), the leaf out of the JSON answer."""
    req = urllib.request.Request(url, data=csr_pem, headers={"Content-Type": "application/pkcs10",
                                                              "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as answer:
        return x509.load_pem_x509_certificate(json.loads(answer.read())["certificate"]["pem"].encode())


def run_ca_type(kind: str, label: str, pems: list[bytes], pool: Path, work: Path, env: dict[str, str],
                seconds: float, warmup: float, rounds: int) -> tuple[list[Point], dict[str, Any]]:
    """Both servers on one issuing CA: check a leaf from each, warm up, then alternate the rounds."""
    data = work / f"data-{kind}"
    token = prepare_certgate(data, kind)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = work / f"cfssl-{kind}.json"
    config.write_text(json.dumps(cfssl_config(base), indent=2))
    bodies = write_bodies(pems, work / "cfssl-bodies.jsonl")
    server_env = dict(env, CERTGATE_DATA_DIR=str(data), CERTGATE_BASE_URL=base,
                      CERTGATE_POLICY_FILE=str(lint_off_policy(work / "policy-lint-off.toml")))
    argv = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    issuer = x509.load_pem_x509_certificate((data / "ca" / "issuing.pem").read_bytes())
    points: list[Point] = []
    with running(f"certgate-{kind}", argv, server_env, base, work) as cg, \
            running_cfssl(f"cfssl-{kind}", data / "ca" / "issuing.pem", data / "ca" / "issuing.key.pem", config,
                          work) as cf:
        # Hand checks use the pool's last CSRs; wrk starts at the first.
        check_one(base + "/api/v1/requests", pems[-1], token, False, base)
        cg_leaf, cf_leaf = certgate_leaf(base + "/api/v1/requests", pems[-2], token), cfssl_sign(cf.base, pems[-2])
        check: dict[str, Any] = {"certgate_extensions": check_leaf(cg_leaf, pems[-2], issuer),
                                 "cfssl_extensions": check_leaf(cf_leaf, pems[-2], issuer),
                                 "difference": compare_leaves(cg_leaf, cf_leaf)}
        print(f"  {label}: both leaves chain to the issuing CA with the CSR's SANs; {check['difference']}",
              file=sys.stderr)
        targets = {
            "cfssl": _Target(cf, cf.workers, cf.base + SIGN_PATH, bodies, None, "cfssl"),
            "certgate": _Target(cg, [pid for pid in cg.pids if pid != cg.proc.pid], base + "/api/v1/requests", pool,
                                token, "pkcs10"),
        }
        for t in targets.values():
            t.offset = run_wrk(t.url, t.source, 0, 4, warmup, t.token, t.body_format)["requests"] + 5
        for rnd in range(rounds):
            for i, c in enumerate(CONCURRENCY):
                for name in ("cfssl", "certgate") if (rnd + i) % 2 == 0 else ("certgate", "cfssl"):
                    t = targets[name]
                    p = measure(t, label, name, rnd + 1, c, seconds)
                    t.offset += p.requests + c  # in-flight requests at the end are sent but not counted
                    points.append(p)
    check["certgate_csrs_sent"] = targets["certgate"].offset
    check["certgate_csrs_reused"] = max(0, targets["certgate"].offset - (len(pems) - 2))
    return points, check


def best(points: list[Point], ca: str, server: str, c: int) -> Point | None:
    """The point's least disturbed round: the highest req/s."""
    found = [p for p in points if p.ca == ca and p.server == server and p.concurrency == c]
    return max(found, key=lambda p: p.rps) if found else None


def paired_ratios(points: list[Point], ca: str, c: int, attr: str) -> list[float]:
    """certgate/cfssl of `attr` within each round, where the two runs were back to back."""
    out = []
    for rnd in sorted({p.round for p in points}):
        pair = {p.server: getattr(p, attr) for p in points if p.ca == ca and p.concurrency == c and p.round == rnd}
        if pair.get("cfssl") and "certgate" in pair:
            out.append(pair["certgate"] / pair["cfssl"])
    return out


def ratios_of(points: list[Point]) -> dict[str, dict[str, list[float]]]:
    """Per CA type: the per-round req/s ratios at each concurrency and CPU ms/request ratios at c=16."""
    return {label: {**{f"rps_c{c}": paired_ratios(points, label, c, "rps") for c in CONCURRENCY},
                    "cpu_ms_c16": paired_ratios(points, label, 16, "server_cpu_ms_per_request")}
            for _, label in CA_TYPES}


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _spread(values: list[float], digits: int) -> str:
    """The median and, with more than one round, the range: "0.044 [0.030-0.060]"."""
    if not values:
        return "n/a"
    med = f"{statistics.median(values):.{digits}f}"
    return med if len(values) == 1 else f"{med} [{min(values):.{digits}f}-{max(values):.{digits}f}]"


def render(points: list[Point], meta: dict[str, Any], ratios: dict[str, dict[str, list[float]]]) -> str:
    width = 26
    head = "".join(f" | {'c=' + str(c):^{width}}" for c in CONCURRENCY)
    sub = "".join(f" | {'req/s':>7} {'p50ms':>6} {'p99ms':>6} {'err':>3}" for _ in CONCURRENCY)
    rule = "-" * (24 + (width + 3) * len(CONCURRENCY) + 33)
    la = meta["loadavg"]
    lines = [
        f"certgate vs cfssl ({meta['cfssl_version']}) — {meta['cpus']} CPUs shared by both servers and wrk, "
        f"{meta['seconds_per_point']:g} s per point, {meta['rounds']} rounds alternating the order; certgate {meta['git']}",
        "load average 1/5/15 min: " + ", ".join(f"{k} {v[0]:.2f} {v[1]:.2f} {v[2]:.2f}" for k, v in la.items()),
        f"{'':24}{head} | {'at c=16':^30}",
        f"{'CA / server':24}{sub} | {'CPU ms/req':>10} {'runq ms':>8} {'wrk cores':>9}",
        rule,
    ]
    for _, label in CA_TYPES:
        for server in ("cfssl", "certgate"):
            row = f"{label + ' ' + server:24}"
            for c in CONCURRENCY:
                p = best(points, label, server, c)
                row += f" | {'':{width}}" if p is None else f" | {p.rps:7.1f} {p.p50_ms:6.1f} {p.p99_ms:6.1f} {p.errors:>3}"
            p = best(points, label, server, 16)
            if p is not None:
                row += (f" | {p.server_cpu_ms_per_request:10.3f} {p.server_runq_ms_per_request:8.3f} "
                        f"{p.client_cpu_per_second:9.2f}")
            lines.append(row)
        r = ratios[label]
        row = f"{label + ' certgate/cfssl':24}"
        for c in CONCURRENCY:
            row += f" | {_spread(r[f'rps_c{c}'], 3):^{width}}"
        row += f" | CPU ms ratio {_spread(r['cpu_ms_c16'], 1)}"
        lines += [row, rule]
    for kind, label in CA_TYPES:
        v, goal = _median(ratios[label]["rps_c16"]), TARGETS[kind]
        verdict = "n/a" if v is None else ("met" if v >= goal else "NOT met")
        lines.append(f"{label}: certgate/cfssl req/s at c=16, median of the rounds = "
                     f"{'n/a' if v is None else f'{v:.3f}'}; target >= {goal:g}: {verdict}")
    lines += [
        "certgate: `certgate serve --workers 2`, lint off (policy, rows, audit events on); cfssl: `cfssl serve` (Go, "
        "all cores), same issuing CA files and CSRs.",
        "CPU ms/req: server processes' user+system CPU per answered request; runq: server threads waiting for a CPU; "
        "wrk cores: client CPU. err: answers without a certificate + socket errors.",
        "Server rows: each point's best round. Ratio rows: median [min-max] over the rounds of certgate/cfssl "
        "from back-to-back runs.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured point (default 10)")
    parser.add_argument("--quick", action="store_true", help="3 s points, 1 s warm-ups, 1 round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per CA type, alternating order (default 3)")
    parser.add_argument("--pool", type=int, default=8000, help="distinct CSRs in the pool (default 8000)")
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
        "certgate_workers": 2, "loadavg": {"before": os.getloadavg()},
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
            print(f"{label} issuing CA: certgate and cfssl ...", file=sys.stderr)
            found, checks[label] = run_ca_type(kind, label, pems, pool, Path(tmp), env, seconds, warmup, rounds)
            points += found
            meta["loadavg"][f"after {label}"] = os.getloadavg()
    meta["total_seconds"] = round(time.monotonic() - started, 1)
    ratios = ratios_of(points)
    table = render(points, meta, ratios)
    print(table)
    doc = {"meta": meta, "checks": checks, "points": [asdict(p) for p in points], "ratios": ratios, "table": table}
    written = write_results("peer-cfssl", doc)
    print(f"\nwritten bench/results/{written} in {meta['total_seconds']} s", file=sys.stderr)



def _cfssl_version() -> str:
    """"cfssl 1.2.0, go1.19.8" from `cfssl version` ("Version: 1.2.0", "Runtime: go1.19.8")."""
    done = subprocess.run(["cfssl", "version"], capture_output=True, text=True)
    fields = dict(line.split(": ", 1) for line in (done.stdout or done.stderr).splitlines() if ": " in line)
    return f"cfssl {fields.get('Version', '?')}, {fields.get('Runtime', 'go ?')}"

if __name__ == "__main__":
    main()
