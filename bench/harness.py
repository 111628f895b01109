"""What the issuance benchmarks share: the CSR pool, certgate data dirs, gunicorn servers, wrk runs
and the /proc accounting of a server's CPU and waiting time."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
LUA = BENCH / "wrk_post_csr.lua"
OWNED_DOMAIN = "example.com"  # the CSRs name hN.bench.example.com
OWNED_RANGE = "5.6.7.0/24"
TICKS = os.sysconf("SC_CLK_TCK")
PEM_BEGIN = b"-----BEGIN CERTIFICATE REQUEST-----"

if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # after PYTHONPATH: request_cost.py runs other checkouts first


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


BATCH_SIZE = 100  # CSRs per `POST /api/v1/batches` in the benchmarks (issue #17's batch rows)


def write_batch_bodies(pems: list[bytes], path: Path, size: int = BATCH_SIZE) -> Path:
    """The CSR pool as `POST /api/v1/batches` bodies of `size` CSRs, one per line (wrk format "batch")."""
    lines = [json.dumps({"items": [{"csr": pem.decode()} for pem in pems[i:i + size]]})
             for i in range(0, len(pems) - size + 1, size)]
    path.write_text("".join(line + "\n" for line in lines))
    return path


def batch_leaf(url: str, pem: bytes, token: str) -> bytes:
    """One certificate from a one-item batch by hand (PEM), or RuntimeError."""
    req = urllib.request.Request(url, data=json.dumps({"items": [{"csr": pem.decode()}]}).encode(),
                                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as answer:
        item = json.loads(answer.read())["items"][0]
    if item.get("status") != "issued":
        raise RuntimeError(f"{url}: the batch item was not issued: {str(item)[:300]}")
    return str(item["certificate"]["pem"]).encode()


# ---------------------------------------------------------------------------------------------
# Servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children(pid: int) -> list[int]:
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


def cpu_ticks(pids: Sequence[int]) -> int:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total


def sched_ns(pids: Sequence[int]) -> tuple[int, int]:
    """(ns on a CPU, ns runnable but waiting for one) summed over the threads of `pids`."""
    on_cpu = waiting = 0
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("*/schedstat"):
            try:
                run, wait, _ = task.read_text().split()
            except (OSError, ValueError):
                continue
            on_cpu += int(run)
            waiting += int(wait)
    return on_cpu, waiting


@dataclass
class Server:
    """A gunicorn server we started: its master process, workers and URLs."""

    name: str
    proc: subprocess.Popen[bytes]
    base: str
    log: Path

    @property
    def pids(self) -> list[int]:
        return [self.proc.pid, *children(self.proc.pid)]

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=2) as answer:
                    if answer.status == 200 and len(children(self.proc.pid)) >= 2:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout} s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        workers = children(self.proc.pid)
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


def certificates_stored(database: Path) -> int:
    """How many certificates a SQLite database holds: checked against the answers wrk counted."""
    with sqlite3.connect(database) as connection:
        return int(connection.execute("SELECT count(*) FROM certificates").fetchone()[0])


def prepare_certgate(data_dir: Path, ca_key_type: str = "p256") -> str:
    """`certgate init --ca-key-type ca_key_type`, a requester token and the owned range, through the
    CLI's own functions (no CERTGATE_CA_PASSPHRASE: the CA keys are plain PKCS#8 PEM).

    In-process because each `certgate` CLI call spends seconds importing; the data dir is then
    copied for the second server.
    """
    from service.process.bootstrap import initialize
    from service.ca.keystore import CaKeyType
    from service.process.config import Settings
    from service.domain import Role
    from service.db.session import Database
    from service.tokens import create_token
    from service.public_suffixes import load_public_suffixes
    from service.usecases.domains import add_domain
    from service.usecases.ranges import add_range

    settings = Settings.from_env({"CERTGATE_DATA_DIR": str(data_dir)})
    now = datetime.now(UTC)
    initialize(settings, key_type=CaKeyType(ca_key_type), now=now)
    db = Database(settings.database_url)
    with db.write() as session:
        token = create_token(session, name="bench", role=Role.REQUESTER, actor="cli:bench", now=now)
    with db.write() as session:
        add_range(session, cidr=OWNED_RANGE, owner="bench", actor="cli:bench", now=now)
        add_domain(session, domain=OWNED_DOMAIN, owner="bench", actor="cli:bench", now=now, suffixes=load_public_suffixes())
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


def run_wrk(url: str, pool: Path, offset: int, concurrency: int, seconds: float, token: str | None,
            body_format: str = "pkcs10") -> dict[str, Any]:
    """One wrk run of wrk_post_csr.lua against `url`; `body_format` "cfssl" sends cfssl sign bodies."""
    timeout = "60s" if body_format == "batch" else "10s"  # a call of 100 CSRs with lint on takes seconds
    argv = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--timeout", timeout, "--latency",
            "-s", str(LUA), url, "--", str(pool), str(offset), "1", token or "-", body_format]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCHJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no BENCHJSON line:\n{done.stdout}\n{done.stderr}")
    result: dict[str, Any] = json.loads(line.removeprefix("BENCHJSON "))
    result["client_cpu_s"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return result


def git_describe(tree: Path) -> str:
    """The checkout's commit (and whether it is dirty), for the results' metadata."""
    done = subprocess.run(["git", "-C", str(tree), "describe", "--always", "--dirty"], capture_output=True, text=True)
    return done.stdout.strip() or "not a git tree"


def write_results(stem: str, doc: dict[str, Any]) -> str:
    """Write `doc` as bench/results/<stem>-<time>.json and <stem>-latest.json; the former's name."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamped = f"{stem}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    for name in (stamped, f"{stem}-latest.json"):
        (RESULTS / name).write_text(json.dumps(doc, indent=2))
    return stamped
