"""Where a certificate's CPU goes inside `POST /api/v1/batches`, in-process, step by step.

    python bench/batch_profile.py [--items 1000] [--batch 100] [--rounds 3] [--lint] [--ca p256|rsa3072]
                                  [--cprofile N]

Makes a data dir (`certgate init`, the bench's owned domain and range, lint off unless `--lint`)
on SQLite, opens the Flask app in-process and posts the bench's CSR pool in batches through
Flask's test client (no HTTP server: that cost is the bench's, not this script's). Each step of
the batch is timed with `time.process_time` by wrapping the function that does it, so the steps
are disjoint; "rest" is everything else inside the call (Flask, auth, the JSON of the body, the
schema of each item, transactions). Rounds use fresh CSRs; the best round is reported (the
machine is shared). `--cprofile N` prints the N most expensive functions of the last round.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import importlib
import io
import json
import pstats
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import harness  # noqa: E402

# (label, module, attribute): the function whose time is the step's. Only those that exist in this
# checkout are wrapped (the script also runs against older checkouts); a class method is "Class.name".
STEPS = [
    ("CSR decode + parse + verify", "service.usecases.submit", "load_csr"),
    ("CSR facts", "service.usecases.submit", "request_facts"),
    ("judge", "service.judge", "Judge.decide"),
    ("judge", "service.judge", "Judge.decide_many"),
    ("build + sign (+ lint)", "service.issuance", "Issuer.sign"),
    ("record rows", "service.usecases.batch", "record_judged"),
    ("record rows", "service.usecases.batch", "record_chunk"),
    ("audit append", "service.usecases.batch", "append_events"),
    ("answer (dump)", "service.api.batches", "_answer"),
    ("answer (dump)", "service.api.batches", "_answers"),
    ("answer (JSON)", "service.api.batches", "jsonify"),
    ("item schema", "service.api.batches", "_item"),
]


def _wrap(totals: dict[str, float], label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    clock = time.process_time

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = clock()
        try:
            return fn(*args, **kwargs)
        finally:
            totals[label] += clock() - start

    return timed


def _gc_timer() -> dict[str, float]:
    """Process time spent in the cyclic garbage collector, summed under "gc"."""
    spent: dict[str, float] = defaultdict(float)
    started: list[float] = []

    def callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started.append(time.process_time())
        elif started:
            spent["gc"] += time.process_time() - started.pop()

    gc.callbacks.append(callback)
    return spent


def _install(totals: dict[str, float]) -> list[str]:
    wrapped = []
    for label, module_name, attr in STEPS:
        module = importlib.import_module(module_name)
        owner: Any = module
        name = attr
        if "." in attr:
            cls, name = attr.split(".")
            owner = getattr(module, cls, None)
        if owner is None or not hasattr(owner, name):
            continue
        setattr(owner, name, _wrap(totals, label, getattr(owner, name)))
        wrapped.append(f"{module_name}.{attr}")
    return wrapped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=1000, help="certificates per round")
    parser.add_argument("--batch", type=int, default=100, help="CSRs per call")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lint", action="store_true", help="lint on (the shipped policy)")
    parser.add_argument("--ca", default="p256", choices=["p256", "rsa3072"])
    parser.add_argument("--cprofile", type=int, default=0, help="print the N costliest functions of the last round")
    args = parser.parse_args()

    from service.process.app import create_app
    from service.process.config import Settings
    from service.process.runtime import Runtime

    pems = harness.split_pool(harness.csr_pool(args.items * (args.rounds + 1)))
    work = Path(tempfile.mkdtemp(prefix="batch-profile-"))
    token = harness.prepare_certgate(work / "data", args.ca)
    env = {"CERTGATE_DATA_DIR": str(work / "data")}
    if not args.lint:
        env["CERTGATE_POLICY_FILE"] = str(harness.lint_off_policy(work / "policy.toml"))
    settings = Settings.from_env(env)
    runtime = Runtime.open(settings)
    client = create_app(settings, runtime=runtime).test_client()
    headers = {"Authorization": f"Bearer {token}"}

    def post(items: list[bytes]) -> float:
        """Post one batch; the process time of the call alone (not this script's JSON work)."""
        body = json.dumps({"items": [{"csr": p.decode()} for p in items]})
        start = time.process_time()
        answer = client.post("/api/v1/batches", data=body, headers=headers, content_type="application/json")
        spent = time.process_time() - start
        statuses = [i["status"] for i in answer.get_json()["items"]]
        if answer.status_code != 200 or set(statuses) != {"issued"}:
            raise RuntimeError(f"batch answered {answer.status_code}: {set(statuses)} {answer.get_data()[:300]!r}")
        return spent

    post(pems[-args.batch:])  # warm up: imports, compiled statements, the lint's memo
    gc.collect()
    gc.freeze()  # as `certgate serve` does before it forks its workers
    collections = _gc_timer()
    totals: dict[str, float] = defaultdict(float)
    wrapped = _install(totals)
    rounds = []
    profiler = cProfile.Profile() if args.cprofile else None
    for r in range(args.rounds):
        totals.clear()
        chunk = pems[r * args.items:(r + 1) * args.items]
        if profiler is not None and r == args.rounds - 1:
            profiler.enable()
        total = sum(post(chunk[i:i + args.batch]) for i in range(0, len(chunk), args.batch))
        if profiler is not None and r == args.rounds - 1:
            profiler.disable()
        steps = {k: v * 1000 / args.items for k, v in totals.items()}
        steps["of which: cyclic GC inside the steps and rest"] = collections.pop("gc", 0.0) * 1000 / args.items
        steps["rest (Flask, auth, body JSON, transactions)"] = (
            total * 1000 / args.items - sum(v for k, v in steps.items() if not k.startswith("of which")))
        rounds.append((total * 1000 / args.items, steps))
    best = min(rounds, key=lambda r: r[0])
    print(f"wrapped: {', '.join(wrapped)}")
    print(f"CA {args.ca}, lint {'on' if args.lint else 'off'}, {args.items} certificates per round in calls of "
          f"{args.batch}; ms per certificate per round: {', '.join(f'{t:.3f}' for t, _ in rounds)}")
    print("| step | ms per certificate (best round) |\n|---|---|")
    for name, ms in best[1].items():
        print(f"| {name} | {ms:.3f} |")
    print(f"| **total** | **{best[0]:.3f}** |")
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(args.cprofile)
        print(out.getvalue())
    runtime.db.dispose()


if __name__ == "__main__":
    main()
