"""CPU per issuance request in-process (Flask test client, no HTTP server): to weigh a patch.

    python bench/request_cost.py [--requests 300] [--source PATCHED_CHECKOUT ...]

Each source tree runs in its own interpreter (PYTHONPATH set to it) on a fresh data dir, lint
off then on; every request's thread CPU time is taken, which holds steadier than wall-clock
throughput on a busy host. Trees alternate for `--rounds` rounds and each keeps its lowest mean
(the least disturbed). Prints mean, p50 and p90 CPU ms per request for each tree.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


def measure(requests: int) -> dict[str, Any]:
    """Runs inside the child interpreter, whose `service` comes from the tree under test."""
    # `service` and `policies` come from the tree under test (PYTHONPATH), imported before
    # `harness` adds this checkout to the end of sys.path.
    importlib.import_module("policies.config")
    from service.process.app import create_app
    from service.process.config import Settings

    sys.path.insert(0, str(BENCH))
    import harness

    pems = harness.split_pool(harness.csr_pool(4000))
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="certgate-cost-") as tmp:
        work = Path(tmp)
        token = harness.prepare_certgate(work / "data")
        lint_off = harness.lint_off_policy(work / "lint-off.toml")
        headers = {"Content-Type": "application/pkcs10", "Authorization": f"Bearer {token}"}
        offset = 0
        for label, policy in (("lint_off", str(lint_off)), ("lint_on", "")):
            app = create_app(Settings.from_env({"CERTGATE_DATA_DIR": str(work / "data"), "CERTGATE_POLICY_FILE": policy}))
            client = app.test_client()
            for pem in pems[offset:offset + 30]:  # warm-up
                assert client.post("/api/v1/requests", data=pem, headers=headers).status_code == 201
            offset += 30
            laps = []
            for pem in pems[offset:offset + requests]:
                t = time.thread_time_ns()
                answer = client.post("/api/v1/requests", data=pem, headers=headers)
                laps.append((time.thread_time_ns() - t) / 1e6)
                assert answer.status_code == 201, answer.get_data(as_text=True)[:300]
            offset += requests
            laps.sort()
            out[label] = {"mean_ms": statistics.fmean(laps), "p50_ms": laps[len(laps) // 2],
                          "p90_ms": laps[int(len(laps) * 0.9)], "requests": len(laps)}
    return out


def _child(tree: Path, requests: int) -> dict[str, Any]:
    env = dict({k: v for k, v in os.environ.items() if not k.startswith("CERTGATE_")}, PYTHONPATH=str(tree))
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", "--requests", str(requests)],
                          cwd=tree, env=env, capture_output=True, text=True)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("COSTJSON ")), None)
    if line is None:
        sys.exit(f"{tree}: {done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(line.removeprefix("COSTJSON "))
    if Path(result["service_from"]) != tree:
        sys.exit(f"{tree}: service was imported from {result['service_from']}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2, help="alternate the trees this often; the lowest mean counts")
    parser.add_argument("--source", type=Path, action="append", default=[], help="checkout(s) to compare with this one")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = measure(args.requests)
        import service

        result["service_from"] = str(Path(service.__file__).resolve().parent.parent)
        print("COSTJSON " + json.dumps(result))
        return
    trees = [ROOT, *[s.resolve() for s in args.source]]
    best: dict[Path, dict[str, Any]] = {}
    for _ in range(args.rounds):  # alternating trees spreads the host's load changes over all of them
        for tree in trees:
            result = _child(tree, args.requests)
            kept = best.setdefault(tree, {})
            for key in ("lint_off", "lint_on"):
                if key not in kept or result[key]["mean_ms"] < kept[key]["mean_ms"]:
                    kept[key] = result[key]
    rows = [(tree, best[tree]) for tree in trees]
    print(f"{'certgate tree':40} | {'lint off: mean  p50  p90':>25} | {'lint on: mean  p50  p90':>25}   (CPU ms/request)")
    for tree, r in rows:
        cells = [f"{r[k]['mean_ms']:10.2f} {r[k]['p50_ms']:6.2f} {r[k]['p90_ms']:6.2f}" for k in ("lint_off", "lint_on")]
        print(f"{str(tree)[-40:]:40} | {cells[0]:>25} | {cells[1]:>25}")


if __name__ == "__main__":
    main()
