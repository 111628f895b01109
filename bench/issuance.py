"""Issuance throughput, side by side: crypto loop, bare Flask issuer (without and with rows), certgate.

    python bench/issuance.py [--duration 10] [--quick] [--only abefcdg] [--source DIR]

(a) the raw crypto pipeline (`bare_issuer.issue_pem`: load + verify CSR, build + sign a P-256
    leaf, PEM) in a loop on one core, in this process;
(b) `bench/bare_issuer.py`: that pipeline behind Flask under certgate's gunicorn settings;
(e) `bare_issuer.py --rows`: (b) that also commits, per request, the rows certgate writes for an
    issuance (request, certificate, names, two audit events, audit head) in one plain `sqlite3`
    transaction into a database certgate created (`bench/bare_rows.py`): the floor of a durable
    issuer on this stack; (f) the same with certgate's background WAL checkpoints;
(c) `certgate serve` with `[lint] enabled = false`; (d) `certgate serve` as shipped (lint on);
(g) `certgate serve` as shipped (lint on) from this checkout, fed through `POST /api/v1/batches`,
    100 CSRs per call: its req/s is certificates per second (issue #17: >= 2x (d) at 51cb6d1, which
    `--source` runs for c and d from another checkout, e.g. a git worktree of that commit).
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
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    BENCH, ROOT, TICKS, Server, batch_leaf, certificates_stored, check_one, cpu_ticks, csr_pool, free_port, lint_off_policy,
    git_describe, prepare_certgate, run_wrk, running, sched_ns, split_pool, write_batch_bodies, write_results,
)
from issuance_table import CONCURRENCY, Point, ratios_of, render  # noqa: E402

DB_TARGETS = "efcdg"  # the targets that write to a certgate database, each to its own copy


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
                   seconds: float, warmup: float, label: str, body_format: str = "pkcs10") -> list[Point]:
    """Warm up, then one wrk run per concurrency; CSRs continue where the last run stopped.

    `body_format` "batch": `pool` holds batch bodies and a point counts certificates, not calls.
    """
    url = server.base + path
    offset = 0
    warm = run_wrk(url, pool, offset, 4, warmup, token, body_format)
    offset += warm["requests"] + 4 + (0 if body_format == "batch" else 1)
    points = []
    for c in CONCURRENCY:
        pids = server.pids
        workers = [pid for pid in pids if pid != server.proc.pid]
        ticks0, sched0 = cpu_ticks(pids), sched_ns(workers)
        r = run_wrk(url, pool, offset, c, seconds, token, body_format)
        ticks, sched1 = cpu_ticks(pids) - ticks0, sched_ns(workers)
        run_ns, wait_ns = sched1[0] - sched0[0], sched1[1] - sched0[1]
        offset += r["requests"] + c  # in-flight requests at the end are sent but not counted
        secs = r["duration_us"] / 1e6
        sock = sum(r["socket_errors"].values())
        done = r["created"] if body_format == "batch" else r["requests"]
        n = max(done, 1)
        # A sync worker with a request queued is busy the whole time: wall per request per worker.
        busy_ms = min(c, len(workers)) * secs * 1e3 / n
        points.append(Point(label, c, done, secs, done / secs, r["latency_us"]["p50"] / 1e3,
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured point (default 10)")
    parser.add_argument("--quick", action="store_true", help="3 s points, 1 s warm-ups: about a minute")
    parser.add_argument("--pool", type=int, default=4000, help="distinct CSRs in the pool (default 4000)")
    parser.add_argument("--only", default="abefcd", help="targets to run, e.g. 'bec' (default abefcd; g: batches)")
    parser.add_argument("--source", type=Path, default=ROOT,
                        help="run certgate (c, d) from this checkout, e.g. a patched copy (default: this one)")
    args = parser.parse_args()
    if set(args.only) - set("abcdefg"):
        parser.error(f"--only takes letters of abcdefg, not {args.only!r}")
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
        token = ""
        if any(t in args.only for t in DB_TARGETS):
            # One `certgate init` (schema, indexes, CA, token, owned range), a fresh copy per target.
            print("preparing certgate data dirs ...", file=sys.stderr)
            token = prepare_certgate(work / "data")
            for target in DB_TARGETS:
                if target in args.only:
                    shutil.copytree(work / "data", work / f"data-{target}")
        tokens = {t: token for t in DB_TARGETS}
        if source != ROOT:
            # c and d run another checkout: its own `init` (its migrations, its layout) makes their data.
            for target in "cd":
                if target in args.only:
                    shutil.rmtree(work / f"data-{target}")
                    tokens[target] = prepare_elsewhere(source, work / f"data-{target}", env)
        for target, rows in (("b", ()), ("e", ("--rows",)), ("f", ("--rows", "--checkpoint-thread"))):
            if target not in args.only:
                continue
            print(f"({target}) bare issuer{' + rows' if rows else ''} ...", file=sys.stderr)
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            argv = [sys.executable, str(BENCH / "bare_issuer.py"), "--port", str(port), "--workers", "2"]
            if rows:
                argv += [rows[0], str(work / f"data-{target}" / "certgate.db"), *rows[1:]]
            with running(f"bare-{target}", argv, env, base, work) as server:
                check_one(base + "/issue", pems[-1], None, None, base)
                points += measure_server(server, "/issue", pool, args.pool, None, seconds, warmup, target)

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
                check_one(base + "/api/v1/requests", pems[-1], tokens[target], lint, base)
                points += measure_server(server, "/api/v1/requests", pool, args.pool - 1, tokens[target], seconds,
                                         warmup, target)
        if "g" in args.only:
            print("(g) certgate, lint on, batches of 100 (this checkout) ...", file=sys.stderr)
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            server_env = dict(env, CERTGATE_DATA_DIR=str(work / "data-g"), CERTGATE_BASE_URL=base)
            argv = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                    "--workers", "2"]
            bodies = write_batch_bodies(pems[:-1], work / "batch-bodies.jsonl")
            with running("certgate-g", argv, server_env, base, work) as server:
                check_one(base + "/api/v1/requests", pems[-1], token, True, base)
                batch_leaf(base + "/api/v1/batches", pems[-1], token)
                points += measure_server(server, "/api/v1/batches", bodies, args.pool - 1, token, seconds,
                                         warmup, "g", "batch")
        # Evidence that every 201 left its rows: certificates stored per target, against the answers
        # wrk counted (which leave out the hand check, the warm-up and requests in flight at the end).
        meta["certificates_stored"] = {t: certificates_stored(work / f"data-{t}" / "certgate.db")
                                       for t in DB_TARGETS if t in args.only}
        meta["answers_counted"] = {t: sum(p.requests for p in points if p.target == t)
                                   for t in DB_TARGETS if t in args.only}
        print(f"certificates stored {meta['certificates_stored']}; answers wrk counted in the measured points "
              f"{meta['answers_counted']}", file=sys.stderr)

    meta["loadavg_after"] = os.getloadavg()[0]
    meta["total_seconds"] = round(time.monotonic() - started, 1)
    meta["versions"] = _versions()
    ratios = ratios_of(points)
    table = render(points, meta, ratios)
    print(table)
    doc = {"meta": meta, "points": [asdict(p) for p in points], "ratios": ratios, "table": table}
    written = write_results("issuance", doc)
    print(f"\nwritten bench/results/{written} in {meta['total_seconds']} s", file=sys.stderr)



def prepare_elsewhere(source: Path, data_dir: Path, env: dict[str, str]) -> str:
    """`prepare_certgate` as the checkout at `source` has it (its own bench/harness.py, its own
    service package and migrations), in a subprocess; the requester token."""
    code = ("import sys; from pathlib import Path; sys.path[:0] = [sys.argv[1] + '/bench', sys.argv[1]]; "
            "from harness import prepare_certgate; print(prepare_certgate(Path(sys.argv[2])))")
    done = subprocess.run([sys.executable, "-c", code, str(source), str(data_dir)], cwd=source, capture_output=True,
                          text=True, check=True, env=dict(env, PYTHONPATH=str(source)))
    return done.stdout.strip().splitlines()[-1]


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
