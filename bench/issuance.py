"""Issuance throughput, side by side: crypto loop, bare Flask issuer, certgate lint off and on.

    python bench/issuance.py [--duration 10] [--quick]

(a) the raw crypto pipeline (`bare_issuer.issue_pem`: load + verify CSR, build + sign a P-256
    leaf, PEM) in a loop on one core, in this process;
(b) `bench/bare_issuer.py`: that pipeline behind Flask under certgate's gunicorn settings;
(c) `certgate serve` with `[lint] enabled = false`; (d) `certgate serve` as shipped (lint on).
Servers run with 2 sync workers, preloaded; `wrk` POSTs a distinct P-256 CSR per request from a
pre-generated pool at concurrency 1, 4 and 16 after a warm-up. Prints one table and writes
`bench/results/issuance-<time>.json` (and `issuance-latest.json`).

Server CPU ms/request (master + workers, from /proc) is printed too: unlike req/s it barely
moves when other processes share the machine, so it is the number to compare between runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    BENCH, ROOT, TICKS, Server, check_one, cpu_ticks, csr_pool, free_port, lint_off_policy,
    git_describe, prepare_certgate, run_wrk, running, sched_ns, split_pool, write_results,
)

CONCURRENCY = (1, 4, 16)


@dataclass(frozen=True)
class Point:
    """One measurement: a target at one concurrency."""

    target: str
    concurrency: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-201 answers plus socket errors (connect, read, write, timeout)
    server_cpu_ms_per_request: float | None
    client_cpu_s: float | None = None
    # Worker time per request besides CPU: waiting for a CPU (run queue: the host is busy) and
    # neither running nor runnable (blocked: locks, I/O, sleeps), from /proc/<pid>/task/*/schedstat.
    server_runq_ms_per_request: float | None = None
    server_blocked_ms_per_request: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# (a) the crypto loop


def crypto_loop(pems: Sequence[bytes], seconds: float) -> Point:
    """`issue_pem` back to back on one core: what an issuer costs without HTTP, policy or DB."""
    from bare_issuer import BareCa, issue_pem

    ca = BareCa.create(datetime.now(UTC))
    for pem in pems[:50]:  # warm-up
        issue_pem(pem, ca, datetime.now(UTC))
    laps: list[float] = []
    cpu0, start = time.process_time(), time.perf_counter()
    while time.perf_counter() - start < seconds:
        t = time.perf_counter()
        issue_pem(pems[len(laps) % len(pems)], ca, datetime.now(UTC))
        laps.append(time.perf_counter() - t)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    laps.sort()
    return Point("a", 1, len(laps), wall, len(laps) / wall, laps[len(laps) // 2] * 1e3,
                 laps[int(len(laps) * 0.99)] * 1e3, 0, cpu * 1e3 / len(laps))


def measure_server(server: Server, path: str, pool: Path, pool_size: int, token: str | None,
                   seconds: float, warmup: float, label: str) -> list[Point]:
    """Warm up, then one wrk run per concurrency; CSRs continue where the last run stopped."""
    url = server.base + path
    offset = 0
    warm = run_wrk(url, pool, offset, 4, warmup, token)
    offset += warm["requests"] + 4 + 1
    points = []
    for c in CONCURRENCY:
        pids = server.pids
        workers = [pid for pid in pids if pid != server.proc.pid]
        ticks0, sched0 = cpu_ticks(pids), sched_ns(workers)
        r = run_wrk(url, pool, offset, c, seconds, token)
        ticks, sched1 = cpu_ticks(pids) - ticks0, sched_ns(workers)
        run_ns, wait_ns = sched1[0] - sched0[0], sched1[1] - sched0[1]
        offset += r["requests"] + c  # in-flight requests at the end are sent but not counted
        secs = r["duration_us"] / 1e6
        sock = sum(r["socket_errors"].values())
        n = max(r["requests"], 1)
        # A sync worker with a request queued is busy the whole time: wall per request per worker.
        busy_ms = min(c, len(workers)) * secs * 1e3 / n
        points.append(Point(label, c, r["requests"], secs, r["requests"] / secs, r["latency_us"]["p50"] / 1e3,
                            r["latency_us"]["p99"] / 1e3, r["other_status"] + sock, ticks * 1e3 / TICKS / n,
                            r["client_cpu_s"],
                            server_runq_ms_per_request=wait_ns / 1e6 / n,
                            server_blocked_ms_per_request=max(0.0, busy_ms - (run_ns + wait_ns) / 1e6 / n),
                            detail={"wrk": r, "csr_offset_end": offset, "csrs_reused": max(0, offset - pool_size),
                                    "worker_busy_ms_per_request": busy_ms}))
        print(f"  {label} c={c:<2} {points[-1].rps:8.1f} req/s  p50 {points[-1].p50_ms:7.1f} ms  "
              f"p99 {points[-1].p99_ms:7.1f} ms  errors {points[-1].errors}", file=sys.stderr)
    return points


# ---------------------------------------------------------------------------------------------
# Output

NAMES = {
    "a": "(a) crypto loop, 1 core, no HTTP",
    "b": "(b) bare Flask issuer",
    "c": "(c) certgate, lint off",
    "d": "(d) certgate, lint on (default)",
}


def _at(points: list[Point], target: str, c: int) -> Point | None:
    return next((p for p in points if p.target == target and p.concurrency == c), None)


def render(points: list[Point], meta: dict[str, Any], ratios: dict[str, float | None]) -> str:
    head = "".join(f" | {'c=' + str(c):^27}" for c in CONCURRENCY)
    sub = "".join(f" | {'req/s':>7} {'p50ms':>6} {'p99ms':>6} {'err':>4}" for _ in CONCURRENCY)
    lines = [
        f"certgate issuance — {meta['cpus']} CPUs shared by server and wrk, {meta['seconds_per_point']:g} s per point, "
        f"load avg {meta['loadavg_before']:.1f} -> {meta['loadavg_after']:.1f}; certgate {meta['git']}"
        + ("" if meta["certgate_source"] == str(ROOT) else f" from {meta['certgate_source']}"),
        f"{'':34}{head} | {'ms/request at c=16':^21}",
        f"{'target':34}{sub} | {'CPU':>6} {'runq':>6} {'block':>6}",
        "-" * (34 + 30 * len(CONCURRENCY) + 24),
    ]
    for target, name in NAMES.items():
        row = f"{name:34}"
        for c in CONCURRENCY:
            p = _at(points, target, c)
            if p is None:
                row += f" | {'':27}"
            else:
                row += f" | {p.rps:7.1f} {p.p50_ms:6.1f} {p.p99_ms:6.1f} {p.errors if target != 'a' else '-':>4}"
        cpu = _at(points, target, 16) or _at(points, target, 1)
        row += f" | {cpu.server_cpu_ms_per_request:6.2f}" if cpu and cpu.server_cpu_ms_per_request else " |"
        if cpu and cpu.server_runq_ms_per_request is not None and cpu.server_blocked_ms_per_request is not None:
            row += f" {cpu.server_runq_ms_per_request:6.2f} {cpu.server_blocked_ms_per_request:6.2f}"
        lines.append(row)
    lines.append("-" * (34 + 30 * len(CONCURRENCY) + 24))
    r = ratios

    def fmt(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.2f}"

    verdict = "" if r["certgate_lint_off_over_bare_c16"] is None else (
        "  (target >= 0.5: " + ("met" if r["certgate_lint_off_over_bare_c16"] >= 0.5 else "NOT met") + ")")
    lines += [
        f"certgate lint off / bare, req/s at c=16: {fmt(r['certgate_lint_off_over_bare_c16'])}{verdict}",
        f"certgate lint on / lint off, req/s at c=16: {fmt(r['lint_on_over_off_c16'])}; "
        f"CPU ms/req: {fmt(r['lint_on_over_off_cpu'])}",
        f"bare / (2 x crypto loop), req/s at c=16: {fmt(r['bare_over_two_cores_crypto_c16'])}  "
        f"(HTTP + Flask + gunicorn overhead; 2 workers can at best double (a))",
        "(a): p50/p99 of one pipeline call, CPU per call. (b-d) at c=16, per answered request: CPU of master + "
        "workers; runq = workers runnable but waiting for a CPU (other load on the host);",
        "block = worker wall time neither running nor runnable (locks, I/O, sleeps). err = non-201 answers + "
        "socket errors.",
    ]
    return "\n".join(lines)


def ratios_of(points: list[Point]) -> dict[str, float | None]:
    def rps(t: str, c: int) -> float | None:
        p = _at(points, t, c)
        return p.rps if p else None

    def div(x: float | None, y: float | None) -> float | None:
        return x / y if x is not None and y else None

    cpu_c, cpu_d = _at(points, "c", 16), _at(points, "d", 16)
    a = rps("a", 1)
    return {
        "certgate_lint_off_over_bare_c16": div(rps("c", 16), rps("b", 16)),
        "lint_on_over_off_c16": div(rps("d", 16), rps("c", 16)),
        "lint_on_over_off_cpu": div(cpu_d.server_cpu_ms_per_request if cpu_d else None,
                                    cpu_c.server_cpu_ms_per_request if cpu_c else None),
        "bare_over_two_cores_crypto_c16": div(rps("b", 16), 2 * a if a else None),
    }


# ---------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured point (default 10)")
    parser.add_argument("--quick", action="store_true", help="3 s points, 1 s warm-ups: about a minute")
    parser.add_argument("--pool", type=int, default=4000, help="distinct CSRs in the pool (default 4000)")
    parser.add_argument("--only", default="abcd", help="targets to run, e.g. 'cd' (default abcd)")
    parser.add_argument("--source", type=Path, default=ROOT,
                        help="run certgate (c, d) from this checkout, e.g. a patched copy (default: this one)")
    args = parser.parse_args()
    source = args.source.resolve()
    seconds = 3.0 if args.quick else args.duration
    warmup = 1.0 if args.quick else 3.0
    if shutil.which("wrk") is None:
        sys.exit("wrk is not on PATH: apt-get install -y wrk")

    started = time.monotonic()
    meta: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(), "certgate_source": str(source), "git": git_describe(source),
        "cpus": os.cpu_count(), "python": platform.python_version(),
        "seconds_per_point": seconds, "warmup_seconds": warmup, "loadavg_before": os.getloadavg()[0],
        "concurrency": list(CONCURRENCY), "wrk_threads": 1, "server_workers": 2, "pool_size": args.pool,
    }
    print(f"generating/loading a pool of {args.pool} P-256 CSRs ...", file=sys.stderr)
    pool = csr_pool(args.pool)
    pems = split_pool(pool)
    points: list[Point] = []
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTGATE_")}
    env["PYTHONPATH"] = str(ROOT)

    if "a" in args.only:
        print("(a) crypto loop ...", file=sys.stderr)
        points.append(crypto_loop(pems, min(seconds, 5.0)))
        print(f"  a {points[-1].rps:8.1f} calls/s", file=sys.stderr)

    with tempfile.TemporaryDirectory(prefix="certgate-bench-") as tmp:
        work = Path(tmp)
        if "b" in args.only:
            print("(b) bare issuer ...", file=sys.stderr)
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            argv = [sys.executable, str(BENCH / "bare_issuer.py"), "--port", str(port), "--workers", "2"]
            with running("bare", argv, env, base, work) as server:
                check_one(base + "/issue", pems[-1], None, None, base)
                points += measure_server(server, "/issue", pool, args.pool, None, seconds, warmup, "b")

        token = ""
        if "c" in args.only or "d" in args.only:
            print("preparing certgate data dirs ...", file=sys.stderr)
            token = prepare_certgate(work / "data-c")
            shutil.copytree(work / "data-c", work / "data-d")
        for target, lint in (("c", False), ("d", True)):
            if target not in args.only:
                continue
            print(f"({target}) certgate, lint {'on' if lint else 'off'} ...", file=sys.stderr)
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            server_env = dict(env, CERTGATE_DATA_DIR=str(work / f"data-{target}"), CERTGATE_BASE_URL=base,
                              PYTHONPATH=str(source))
            if not lint:
                server_env["CERTGATE_POLICY_FILE"] = str(lint_off_policy(work / "policy-lint-off.toml"))
            argv = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                    "--workers", "2"]
            with running(f"certgate-{target}", argv, server_env, base, work, cwd=source) as server:
                # The hand check uses the pool's last CSR; wrk starts at the first.
                check_one(base + "/api/v1/requests", pems[-1], token, lint, base)
                points += measure_server(server, "/api/v1/requests", pool, args.pool - 1, token, seconds,
                                         warmup, target)

    meta["loadavg_after"] = os.getloadavg()[0]
    meta["total_seconds"] = round(time.monotonic() - started, 1)
    meta["versions"] = _versions()
    ratios = ratios_of(points)
    table = render(points, meta, ratios)
    print(table)
    doc = {"meta": meta, "points": [asdict(p) for p in points], "ratios": ratios, "table": table}
    written = write_results("issuance", doc)
    print(f"\nwritten bench/results/{written} in {meta['total_seconds']} s", file=sys.stderr)



def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for dist in ("cryptography", "flask", "gunicorn", "sqlalchemy", "sqlmodel", "pkilint", "marshmallow"):
        try:
            found[dist] = version(dist)
        except PackageNotFoundError:
            pass
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    found["wrk"] = (wrk.stdout or wrk.stderr).splitlines()[0] if (wrk.stdout or wrk.stderr) else "?"
    return found


if __name__ == "__main__":
    main()
