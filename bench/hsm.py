"""Issuance with the issuing key in SoftHSM2 beside the same with a file key, in one run, and where the token's time goes.

    python bench/hsm.py [--seconds 5] [--rounds 3] [--quick]

Two `certgate serve` (2 sync workers each, lint on, as shipped) over two copies of one setup:
(file) `certgate init` with file keys; (token) `certgate init --hsm` with the keys generated in a
SoftHSM2 token in a temporary token directory. `wrk` POSTs a distinct P-256 CSR per request at
c=16, alternating file, token, file, token ... for `--rounds` rounds, so both see the same noise;
the ratio is token req/s over file req/s summed over the rounds.

Then, in this process, the same CA objects issue leaves back to back (lint off, so the signing
path is what is timed) and the token's own counters split each token issuance into: borrowing a
pooled session (a lock and a list pop; the login and the key lookup happen once per process),
the token's C_SignInit + C_Sign, and the rest of the token path (the throwaway-key draft, the
reassembled DER parsed again and its signature verified). Opening a fresh session and logging
in, which the pool saves, is timed too.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    OWNED_RANGE, ROOT, TICKS, Server, certificates_stored, check_one, cpu_ticks, csr_pool, free_port, run_wrk, running,
    split_pool, write_results,
)

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN, TOKEN = "123456", "certgate-bench"
CONCURRENCY = 16


def softhsm(home: Path) -> dict[str, str]:
    """A token in a fresh token directory; the environment that selects it."""
    (home / "tokens").mkdir(parents=True)
    conf = home / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {home / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)  # this process loads the module too
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", TOKEN, "--so-pin", "12345678",
                    "--pin", PIN], check=True, capture_output=True)
    return {"SOFTHSM2_CONF": str(conf), "CERTGATE_PKCS11_MODULE": MODULE, "CERTGATE_PKCS11_TOKEN": TOKEN,
            "CERTGATE_PKCS11_PIN": PIN}


def prepare(data_dir: Path, extra: dict[str, str], hsm: bool) -> str:
    """`certgate init [--hsm]`, a requester token and the owned range (the CLI's own functions)."""
    from service.ca.keystore import CaKeyType
    from service.db.session import Database
    from service.domain import Role
    from service.process.bootstrap import initialize
    from service.process.config import Settings
    from service.tokens import create_token
    from service.usecases.ranges import add_range

    settings = Settings.from_env({"CERTGATE_DATA_DIR": str(data_dir), **extra})
    now = datetime.now(UTC)
    initialize(settings, key_type=CaKeyType.P256, now=now, hsm=hsm, actor="cli:bench")
    db = Database(settings.database_url)
    with db.write() as session:
        token = create_token(session, name="bench", role=Role.REQUESTER, actor="cli:bench", now=now)
    with db.write() as session:
        add_range(session, cidr=OWNED_RANGE, owner="bench", actor="cli:bench", now=now)
    db.dispose()
    return token


def served(servers: dict[str, Server], tokens: dict[str, str], pool: Path, pool_size: int, seconds: float,
           rounds: int) -> dict[str, Any]:
    """Alternating wrk runs at c=16; per target: requests, seconds, req/s per round."""
    offsets = {name: 0 for name in servers}
    out: dict[str, Any] = {name: {"requests": 0, "seconds": 0.0, "rps": [], "p50_ms": [], "errors": 0,
                                  "server_cpu_s": 0.0} for name in servers}
    for name, server in servers.items():  # warm-up
        warm = run_wrk(server.base + "/api/v1/requests", pool, 0, 4, 2, tokens[name])
        offsets[name] = warm["requests"] + 5
    for _ in range(rounds):
        for name, server in servers.items():
            ticks = cpu_ticks(server.pids)
            r = run_wrk(server.base + "/api/v1/requests", pool, offsets[name] % pool_size, CONCURRENCY, seconds,
                        tokens[name])
            out[name]["server_cpu_s"] += (cpu_ticks(server.pids) - ticks) / TICKS
            offsets[name] += r["requests"] + CONCURRENCY
            secs = r["duration_us"] / 1e6
            row = out[name]
            row["requests"] += r["requests"]
            row["seconds"] += secs
            row["rps"].append(round(r["requests"] / secs, 1))
            row["p50_ms"].append(round(r["latency_us"]["p50"] / 1e3, 1))
            row["errors"] += r["other_status"] + sum(r["socket_errors"].values())
            print(f"  {name:5} c={CONCURRENCY} {row['rps'][-1]:7.1f} req/s  p50 {row['p50_ms'][-1]:6.1f} ms",
                  file=sys.stderr)
    return out


def in_process(work: Path, extra: dict[str, str], pems: list[bytes], count: int) -> dict[str, Any]:
    """Per-issuance microseconds: file key vs token key, and the token path split in parts."""
    from service.ca.authority import CertificateAuthority
    from service.ca.hsm import TokenConfig, open_token
    from service.ca.profile import IssueOrder
    from service.ca.token_key import TokenKey
    from service.csr import load_csr

    config = TokenConfig(MODULE, TOKEN, PIN)
    cas = {"file": CertificateAuthority.load(work / "data-file" / "ca", None, "http://127.0.0.1"),
           "token": CertificateAuthority.load(work / "data-token" / "ca", None, "http://127.0.0.1", token=config)}
    keys = [load_csr(pem).public_key for pem in pems[:count]]
    now = datetime.now(UTC)
    result: dict[str, Any] = {}
    timings = open_token(config).timings
    for name, ca in cas.items():
        laps, borrow, sign = [], [], []
        for index, key in enumerate(keys * 3):
            order = IssueOrder(key, "h.bench.example.com", ("h.bench.example.com",), (), now,
                               now + timedelta(days=30), 10_000 + index)
            session0, sign0 = timings.session_seconds, timings.sign_seconds
            started = time.perf_counter()
            ca.issue(order, linter=None)
            laps.append(time.perf_counter() - started)
            borrow.append(timings.session_seconds - session0)
            sign.append(timings.sign_seconds - sign0)
        row = {"issue_us_median": _us(laps)}
        if isinstance(ca.issuing_key, TokenKey):
            row["session_borrow_us"], row["token_sign_us"] = _us(borrow), _us(sign)
        result[name] = row
    result["file"]["file_sign_us"] = round(_file_sign_us(cas["file"]), 1)
    tok = result["token"]
    # What is left of the token path: the throwaway-key draft, reassembly, parse and verify.
    tok["draft_reassemble_verify_us"] = round(tok["issue_us_median"] - result["file"]["issue_us_median"]
                                              + result["file"]["file_sign_us"] - tok["session_borrow_us"]
                                              - tok["token_sign_us"], 1)
    lib_token = __import__("pkcs11").lib(MODULE).get_token(token_label=TOKEN)
    started = time.perf_counter()
    for _ in range(50):
        lib_token.open().close()  # the process is logged in: what a pool-less signer pays per call at least
    result["token"]["open_close_session_us"] = round((time.perf_counter() - started) / 50 * 1e6, 1)
    return result


def _us(laps: list[float]) -> float:
    return round(statistics.median(laps) * 1e6, 1)


def _file_sign_us(ca: Any) -> float:
    """One ECDSA P-256 signature by the file key over a certificate-sized input (median)."""
    data = os.urandom(600)
    laps = []
    for _ in range(300):
        started = time.perf_counter()
        ca.issuing_key.sign_bytes(data)
        laps.append(time.perf_counter() - started)
    return statistics.median(laps) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per wrk run (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--quick", action="store_true", help="3 s runs, 2 rounds")
    args = parser.parse_args()
    seconds, rounds = (3.0, 2) if args.quick else (args.seconds, args.rounds)
    for tool in ("wrk", "softhsm2-util"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not on PATH: apt-get install -y wrk softhsm2")
    started = time.monotonic()
    pool = csr_pool(4000)
    pems = split_pool(pool)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTGATE_")}
    env["PYTHONPATH"] = str(ROOT)
    with tempfile.TemporaryDirectory(prefix="certgate-bench-hsm-") as tmp:
        work = Path(tmp)
        token_env = softhsm(work / "softhsm")
        print("preparing: init (file keys) and init --hsm (SoftHSM2) ...", file=sys.stderr)
        tokens = {"file": prepare(work / "data-file", {}, hsm=False),
                  "token": prepare(work / "data-token", token_env, hsm=True)}
        servers: dict[str, Server] = {}
        with _serve("file", work, env, {}) as servers["file"], _serve("token", work, env, token_env) as servers["token"]:
            for name, server in servers.items():
                check_one(server.base + "/api/v1/requests", pems[-1], tokens[name], None, server.base)
            load = served(servers, tokens, pool, len(pems) - 1, seconds, rounds)
        stored = {name: certificates_stored(work / f"data-{name}" / "certgate.db") for name in servers}
        parts = in_process(work, token_env, pems, 300)
    ratio = (load["token"]["requests"] / load["token"]["seconds"]) / (load["file"]["requests"] / load["file"]["seconds"])
    doc = {"meta": {"started_at": datetime.now(UTC).isoformat(), "cpus": os.cpu_count(), "seconds": seconds,
                    "rounds": rounds, "concurrency": CONCURRENCY, "workers": 2, "loadavg": os.getloadavg()[0],
                    "total_seconds": round(time.monotonic() - started, 1), "certificates_stored": stored},
           "served": load, "ratio_token_over_file": round(ratio, 3), "in_process_us": parts}
    print(_table(doc))
    print(f"written bench/results/{write_results('hsm', doc)}", file=sys.stderr)


def _serve(name: str, work: Path, env: dict[str, str], extra: dict[str, str]) -> Any:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server_env = dict(env, CERTGATE_DATA_DIR=str(work / f"data-{name}"), CERTGATE_BASE_URL=base, **extra)
    argv = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    return running(f"certgate-{name}", argv, server_env, base, work)


def _table(doc: dict[str, Any]) -> str:
    served_rows = doc["served"]
    parts = doc["in_process_us"]
    lines = [f"issuance at c={CONCURRENCY}, 2 workers, lint on; {doc['meta']['rounds']} alternating rounds of "
             f"{doc['meta']['seconds']:.0f} s", "",
             "| issuing key | req/s (sum of rounds) | req/s per round | p50 ms per round | server CPU ms/request | errors |",
             "|---|---:|---|---|---:|---:|"]
    for name in ("file", "token"):
        row = served_rows[name]
        lines.append(f"| {name} | {row['requests'] / row['seconds']:.1f} | {row['rps']} | {row['p50_ms']} | "
                     f"{row['server_cpu_s'] * 1e3 / max(row['requests'], 1):.1f} | {row['errors']} |")
    lines += ["", f"ratio token / file: **{doc['ratio_token_over_file']:.2f}x**", "",
              "in process, one issuance (lint off), microseconds:", "",
              "| part | file key | token key |", "|---|---:|---:|",
              f"| whole issuance (median) | {parts['file']['issue_us_median']} | {parts['token']['issue_us_median']} |",
              f"| signature (file: ECDSA in process; token: C_SignInit + C_Sign) | {parts['file']['file_sign_us']} | "
              f"{parts['token']['token_sign_us']} |",
              f"| session handling (borrow from the pool) | - | {parts['token']['session_borrow_us']} |",
              f"| draft with a throwaway key, reassembly, parse, verify | - | "
              f"{parts['token']['draft_reassemble_verify_us']} |",
              f"| (saved by the pool) open + close a session | - | {parts['token']['open_close_session_us']} |"]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
