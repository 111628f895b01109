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
import ipaddress
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
LUA = BENCH / "wrk_post_csr.lua"
CONCURRENCY = (1, 4, 16)
OWNED_RANGE = "5.6.7.0/24"
TICKS = os.sysconf("SC_CLK_TCK")
PEM_BEGIN = b"-----BEGIN CERTIFICATE REQUEST-----"

sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))


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
    detail: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# The CSR pool


def _make_csrs(start: int, count: int) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    out = []
    for i in range(start, start + count):
        name = f"h{i}.bench.example.com"
        ip = ipaddress.ip_address(f"5.6.7.{i % 254 + 1}")
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name), x509.IPAddress(ip)]), critical=False)
            .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
        )
        out.append(csr.public_bytes(serialization.Encoding.PEM))
    return b"".join(out)


def csr_pool(size: int) -> Path:
    """A file of `size` distinct P-256 CSRs (a DNS name and an IP in the owned range), cached."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"csr-pool-v2-{size}.pem"
    if path.exists() and path.read_bytes().count(PEM_BEGIN) == size:
        return path
    workers = max(1, os.cpu_count() or 1)
    chunk = -(-size // workers)
    with ProcessPoolExecutor(workers) as pool:
        parts = pool.map(_make_csrs, range(0, size, chunk), [min(chunk, size - s) for s in range(0, size, chunk)])
        path.write_bytes(b"".join(parts))
    return path


def split_pool(path: Path) -> list[bytes]:
    return [PEM_BEGIN + p for p in path.read_bytes().split(PEM_BEGIN)[1:]]


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


# ---------------------------------------------------------------------------------------------
# Servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _cpu_ticks(pids: Sequence[int]) -> int:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total


@dataclass
class Server:
    """A gunicorn server we started: its master process, workers and URLs."""

    name: str
    proc: subprocess.Popen[bytes]
    base: str
    log: Path

    @property
    def pids(self) -> list[int]:
        return [self.proc.pid, *_children(self.proc.pid)]

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=2) as answer:
                    if answer.status == 200 and len(_children(self.proc.pid)) >= 2:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout} s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        workers = _children(self.proc.pid)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # gunicorn: quick shutdown
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in workers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@contextmanager
def running(name: str, argv: list[str], env: dict[str, str], base: str, workdir: Path,
            cwd: Path = ROOT) -> Iterator[Server]:
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(name, proc, base, log)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def prepare_certgate(data_dir: Path) -> str:
    """`certgate init`, a requester token and the owned range, through the CLI's own functions.

    In-process because each `certgate` CLI call spends seconds importing; the data dir is then
    copied for the second server.
    """
    from service.bootstrap import initialize
    from service.ca.keystore import CaKeyType
    from service.config import Settings
    from service.db.models import Role
    from service.db.session import Database
    from service.tokens import create_token
    from service.usecases.ranges import add_range

    settings = Settings.from_env({"CERTGATE_DATA_DIR": str(data_dir)})
    now = datetime.now(UTC)
    initialize(settings, key_type=CaKeyType.P256, now=now)
    db = Database(settings.database_url)
    with db.write() as session:
        token = create_token(session, name="bench", role=Role.REQUESTER, actor="cli:bench", now=now)
    with db.write() as session:
        add_range(session, cidr=OWNED_RANGE, owner="bench", actor="cli:bench", now=now)
    db.dispose()
    return token


def lint_off_policy(path: Path) -> Path:
    """A copy of the shipped policy with `[lint] enabled = false`."""
    from policies.config import DEFAULT_POLICY_PATH

    text = Path(DEFAULT_POLICY_PATH).read_text()
    new, count = re.subn(r"(\[lint\][^\[]*?enabled\s*=\s*)true", r"\1false", text)
    if count != 1:
        raise RuntimeError("could not find '[lint] enabled = true' in the shipped policy")
    path.write_text(new)
    return path


def check_one(url: str, pem: bytes, token: str | None, expect_lint: bool | None, base: str) -> None:
    """One request by hand: a 201 with a certificate, and the policy we meant to run."""
    headers = {"Content-Type": "application/pkcs10"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    with urllib.request.urlopen(urllib.request.Request(url, data=pem, headers=headers), timeout=30) as answer:
        body = answer.read()
        if answer.status != 201 or b"BEGIN CERTIFICATE" not in body:
            raise RuntimeError(f"{url}: {answer.status} {body[:300]!r}")
    if expect_lint is not None:
        req = urllib.request.Request(base + "/api/v1/policy", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=30) as answer:
            enabled = json.loads(answer.read())["policy"].get("lint", {}).get("enabled", True)
        if enabled != expect_lint:
            raise RuntimeError(f"lint is {enabled}, expected {expect_lint}")


# ---------------------------------------------------------------------------------------------
# wrk


def run_wrk(url: str, pool: Path, offset: int, concurrency: int, seconds: float, token: str | None) -> dict[str, Any]:
    argv = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--timeout", "10s", "--latency",
            "-s", str(LUA), url, "--", str(pool), str(offset), "1", token or "-"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCHJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no BENCHJSON line:\n{done.stdout}\n{done.stderr}")
    result: dict[str, Any] = json.loads(line.removeprefix("BENCHJSON "))
    result["client_cpu_s"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return result


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
        ticks0 = _cpu_ticks(pids)
        r = run_wrk(url, pool, offset, c, seconds, token)
        ticks = _cpu_ticks(pids) - ticks0
        offset += r["requests"] + c  # in-flight requests at the end are sent but not counted
        secs = r["duration_us"] / 1e6
        sock = sum(r["socket_errors"].values())
        n = max(r["requests"], 1)
        points.append(Point(label, c, r["requests"], secs, r["requests"] / secs, r["latency_us"]["p50"] / 1e3,
                            r["latency_us"]["p99"] / 1e3, r["other_status"] + sock, ticks * 1e3 / TICKS / n,
                            r["client_cpu_s"], {"wrk": r, "csr_offset_end": offset,
                                                "csrs_reused": max(0, offset - pool_size)}))
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
        f"{'':34}{head} | {'CPU ms/req':>10}",
        f"{'target':34}{sub} | {'(c=16)':>10}",
        "-" * (34 + 30 * len(CONCURRENCY) + 13),
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
        row += f" | {cpu.server_cpu_ms_per_request:10.2f}" if cpu and cpu.server_cpu_ms_per_request else " |"
        lines.append(row)
    lines.append("-" * (34 + 30 * len(CONCURRENCY) + 13))
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
        "(a): p50/p99 of one pipeline call; 'CPU ms/req' is the process CPU per call (a) or the server's "
        "master+workers CPU per answered request at c=16 (b-d); err = non-201 answers + socket errors.",
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
        "started_at": datetime.now(UTC).isoformat(), "certgate_source": str(source), "git": _git(source),
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
    RESULTS.mkdir(parents=True, exist_ok=True)
    doc = {"meta": meta, "points": [asdict(p) for p in points], "ratios": ratios, "table": table}
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for name in (f"issuance-{stamp}.json", "issuance-latest.json"):
        (RESULTS / name).write_text(json.dumps(doc, indent=2))
    print(f"\nwritten bench/results/issuance-{stamp}.json in {meta['total_seconds']} s", file=sys.stderr)


def _git(tree: Path) -> str:
    done = subprocess.run(["git", "-C", str(tree), "describe", "--always", "--dirty"], capture_output=True, text=True)
    return done.stdout.strip() or "not a git tree"


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
