"""`bench/peer_cfssl.py`'s measurements and what it prints of them: the points, the paired ratios, the table."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

CONCURRENCY = (1, 4, 16)
CA_TYPES = (("p256", "P-256"), ("rsa3072", "RSA-3072"))
TARGETS = {"rsa3072": 1.0, "p256": 0.5}  # issue #6: certgate/cfssl req/s at c=16 at least this
SERVERS = ("cfssl", "certgate", "bare", "bare+rows", "batch")
# (numerator, denominator): what the stack reaches against cfssl, and what certgate adds to it.
PAIRS = (("bare", "cfssl"), ("bare+rows", "cfssl"), ("certgate", "cfssl"), ("certgate", "bare"), ("batch", "cfssl"))


@dataclass(frozen=True)
class Point:
    """One wrk run: a server, a CA type, a concurrency, a round."""

    ca: str
    server: str  # one of SERVERS
    round: int
    concurrency: int
    requests: int  # certificates for "batch" (each call carries harness.BATCH_SIZE CSRs)
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


def best(points: list[Point], ca: str, server: str, c: int) -> Point | None:
    """The point's least disturbed round: the highest req/s."""
    found = [p for p in points if p.ca == ca and p.server == server and p.concurrency == c]
    return max(found, key=lambda p: p.rps) if found else None


def paired_ratios(points: list[Point], ca: str, c: int, attr: str, num: str = "certgate",
                  den: str = "cfssl") -> list[float]:
    """num/den of `attr` within each round, where the runs were back to back (the same round and c)."""
    out = []
    for rnd in sorted({p.round for p in points}):
        pair = {p.server: getattr(p, attr) for p in points if p.ca == ca and p.concurrency == c and p.round == rnd}
        if pair.get(den) and num in pair:
            out.append(pair[num] / pair[den])
    return out


def pair_ratios_of(points: list[Point]) -> dict[str, dict[str, dict[str, list[float]]]]:
    """Per CA type and pair ("bare/cfssl", ...): per-round req/s ratios at each c and CPU ms ratios at c=16."""
    return {label: {f"{num}/{den}": {**{f"rps_c{c}": paired_ratios(points, label, c, "rps", num, den)
                                        for c in CONCURRENCY},
                                     "cpu_ms_c16": paired_ratios(points, label, 16, "server_cpu_ms_per_request",
                                                                 num, den)}
                    for num, den in PAIRS}
            for _, label in CA_TYPES}


def ratios_of(points: list[Point]) -> dict[str, dict[str, list[float]]]:
    """certgate/cfssl per CA type, the JSON's `ratios` field as before the bare servers were added."""
    return {label: pairs["certgate/cfssl"] for label, pairs in pair_ratios_of(points).items()}


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _spread(values: list[float], digits: int) -> str:
    """The median and, with more than one round, the range: "0.044 [0.030-0.060]"."""
    if not values:
        return "n/a"
    med = f"{statistics.median(values):.{digits}f}"
    return med if len(values) == 1 else f"{med} [{min(values):.{digits}f}-{max(values):.{digits}f}]"


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def render(points: list[Point], meta: dict[str, Any], pairs: dict[str, dict[str, dict[str, list[float]]]]) -> str:
    """The table: each server's best round per point, then the paired ratio rows, per CA type."""
    servers = [s for s in SERVERS if s in meta.get("servers", SERVERS)]
    width = 26
    head = "".join(f" | {'c=' + str(c):^{width}}" for c in CONCURRENCY)
    sub = "".join(f" | {'req/s':>7} {'p50ms':>6} {'p99ms':>6} {'err':>3}" for _ in CONCURRENCY)
    rule = "-" * (24 + (width + 3) * len(CONCURRENCY) + 33)
    la = meta["loadavg"]
    lines = [
        f"{' vs '.join(servers)} ({meta['cfssl_version']}) — {meta['cpus']} CPUs shared by the servers and wrk, "
        f"{meta['seconds_per_point']:g} s per point, {meta['rounds']} rounds rotating the order; certgate {meta['git']}",
        "load average 1/5/15 min: " + ", ".join(f"{k} {v[0]:.2f} {v[1]:.2f} {v[2]:.2f}" for k, v in la.items()),
        f"{'':24}{head} | {'at c=16':^30}",
        f"{'CA / server':24}{sub} | {'CPU ms/req':>10} {'runq ms':>8} {'wrk cores':>9}",
        rule,
    ]
    for _, label in CA_TYPES:
        for server in servers:
            row = f"{label + ' ' + server:24}"
            for c in CONCURRENCY:
                p = best(points, label, server, c)
                row += f" | {'':{width}}" if p is None else f" | {p.rps:7.1f} {p.p50_ms:6.1f} {p.p99_ms:6.1f} {p.errors:>3}"
            p = best(points, label, server, 16)
            if p is not None:
                row += (f" | {p.server_cpu_ms_per_request:10.3f} {p.server_runq_ms_per_request:8.3f} "
                        f"{p.client_cpu_per_second:9.2f}")
            lines.append(row)
        for num, den in PAIRS:
            if num not in servers or den not in servers:
                continue
            r = pairs[label][f"{num}/{den}"]
            row = f"{label + ' ' + num + '/' + den:24}"
            for c in CONCURRENCY:
                row += f" | {_spread(r[f'rps_c{c}'], 3):^{width}}"
            lines.append(row + f" | CPU ms ratio {_spread(r['cpu_ms_c16'], 2)}")
        lines.append(rule)
    for kind, label in CA_TYPES:
        goal = TARGETS[kind]
        for num in ("certgate", "bare", "bare+rows", "batch"):
            if num not in servers or "cfssl" not in servers:
                continue
            v = _median(pairs[label][f"{num}/cfssl"]["rps_c16"])
            verdict = "n/a" if v is None else ("met" if v >= goal else "NOT met")
            lines.append(f"{label}: {num}/cfssl req/s at c=16, median of the rounds = {_fmt(v)}; "
                         f"target >= {goal:g}: {verdict}")
    lines += [
        "certgate: `certgate serve --workers 2`, lint off (policy, rows, audit events on); cfssl: `cfssl serve` (Go, "
        "all cores), same issuing CA files and CSRs. batch: the same certgate server, POST /api/v1/batches with 100 "
        "CSRs per call (c = calls in flight); its req/s, p50/p99 and CPU ms are per certificate / per call / per certificate.",
        "bare: bench/bare_issuer.py on the same CA files (Flask + certgate's gunicorn settings, load/verify CSR, "
        "sign, PEM 201); bare+rows: bare plus certgate's rows in one plain sqlite3 transaction and background "
        "WAL checkpoints (issuance.py's (f)), into a copy of the certgate-initialised database.",
        "CPU ms/req: server processes' user+system CPU per answered request; runq: server threads waiting for a CPU; "
        "wrk cores: client CPU. err: answers without a certificate + socket errors.",
        "Server rows: each point's best round. Ratio rows: median [min-max] over the rounds of num/den "
        "from runs in the same round and concurrency (back to back or one server apart).",
    ]
    return "\n".join(lines)
