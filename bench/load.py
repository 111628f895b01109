"""Mixed-workload load test of a real `certgate serve`: `python bench/load.py [--duration 60] [--postgres URL]`.

Starts `certgate serve --workers 2` on 127.0.0.1 (SQLite in a temporary data dir by default, or a
fresh database on the PostgreSQL server given), drives compliant and exception submissions,
approvals, revocations, inventory and audit reads from a thread pool of keep-alive HTTP clients
for a bounded time, then checks the invariants on the database and prints one table.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load_client import Client, Recorder, Shared  # noqa: E402
from bench.load_checks import check_invariants  # noqa: E402

TOKENS = {"requester": ("alice", "requester"), "requester2": ("bob", "requester"), "approver": ("carol", "approver"),
          "approver2": ("dave", "approver"), "auditor": ("erin", "auditor"), "admin": ("frank", "admin")}
# Weights of the operations each client picks from (approve and revoke fall back to reads when idle).
MIX = {"submit_compliant": 30, "submit_exception": 12, "approve": 10, "revoke": 4, "read_inventory": 22, "read_audit": 22}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "service.cli", *args], env=env, text=True, capture_output=True, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"certgate {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def _pg_database(url: str, create: bool, name: str) -> str:
    from sqlalchemy import create_engine, text

    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"' if create else f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
    return url.rsplit("/", 1)[0] + "/" + name


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.2)
    process.kill()
    raise SystemExit("server did not start:\n" + log.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server URL; a fresh database is made on it and dropped")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the data dir (and the PostgreSQL database)")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="certgate-load-"))
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "CERTGATE_DATA_DIR": str(home / "data"), "CERTGATE_BASE_URL": url}
    pg_name = f"certgate_load_{uuid.uuid4().hex[:10]}"
    if args.postgres:
        env["CERTGATE_DATABASE_URL"] = _pg_database(args.postgres, True, pg_name)
    database_url = env.get("CERTGATE_DATABASE_URL", f"sqlite:///{home / 'data' / 'certgate.db'}")
    process = None
    try:
        _cli(env, "init")
        tokens = {key: _cli(env, "token", "create", "--role", role, "--name", name).strip().splitlines()[-1]
                  for key, (name, role) in TOKENS.items()}
        log = home / "server.log"
        process = subprocess.Popen([sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--workers",
                                    str(args.workers)], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
        _wait_healthy(url, process, log)
        setup = Client("127.0.0.1", port, tokens, Shared(), Recorder(), random.Random(0))
        status, _ = setup.call("POST", "/api/v1/ranges", "admin", {"cidr": "5.6.0.0/16", "owner": "load"})
        assert status == 201, status
        status, _ = setup.call("POST", "/api/v1/domains", "admin", {"domain": "example.com", "owner": "load"})
        assert status == 201, status

        shared, recorder = Shared(), Recorder()
        stop_at = time.monotonic() + args.duration
        rng = random.Random(args.seed)
        clients = [Client("127.0.0.1", port, tokens, shared, recorder, random.Random(rng.getrandbits(64)))
                   for _ in range(args.concurrency)]
        threads = [threading.Thread(target=c.run, args=(MIX, stop_at), daemon=True) for c in clients]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started

        backend = "PostgreSQL" if args.postgres else "SQLite"
        print(f"\ncertgate load: {backend}, {args.workers} gunicorn workers, concurrency {args.concurrency}, "
              f"{elapsed:.1f} s, {os.cpu_count()} CPUs")
        print(recorder.table(elapsed))
        results = check_invariants(database_url, env, recorder)
        width = max(len(name) for name, _, _ in results)
        print("\ninvariants")
        for name, ok, detail in results:
            print(f"  {'PASS' if ok else 'FAIL'}  {name:<{width}}  {detail}")
        summary = {"backend": backend, "elapsed_s": round(elapsed, 1), "operations": recorder.summary(elapsed),
                   "invariants": {name: ok for name, ok, _ in results}}
        (home / "load-result.json").write_text(json.dumps(summary, indent=1))
        return 0 if all(ok for _, ok, _ in results) else 1
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        if args.keep:
            print(f"\nkept: {home}" + (f" and database {pg_name}" if args.postgres else ""))
        else:
            shutil.rmtree(home, ignore_errors=True)
            if args.postgres:
                _pg_database(args.postgres, False, pg_name)


if __name__ == "__main__":
    sys.exit(main())
