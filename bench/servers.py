"""Serving stacks side by side: certgate at a baseline commit against this tree, under gunicorn and granian.

    python bench/servers.py [--baseline 51cb6d1] [--rounds 3] [--duration 8] [--concurrency 16]
                            [--only bare,off,on]

Targets, each with 2 workers on the same machine, `wrk` (1 thread) POSTing distinct P-256 CSRs:
  bare/gunicorn, bare/granian     bench/bare_issuer.py (this tree) under either server
  off/base, off/gunicorn, off/granian   certgate with `[lint] enabled = false`: the baseline commit
                                        (gunicorn, as it shipped) and this tree under either server
  on/base, on/gunicorn, on/granian      the same with lint on (the shipped policy)
The baseline runs from a `git worktree` of that commit made in a temporary folder (removed at
the end), its data dir made by its own `certgate init`. Rounds are interleaved (every target once
per round, the order rotated) because the machine is shared: each ratio is taken within a round,
and the table shows the median over rounds with the range. The load average is printed too.
Writes bench/results/servers-<time>.json (and servers-latest.json).
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    BENCH, OWNED_DOMAIN, OWNED_RANGE, ROOT, TICKS, check_one, cpu_ticks, csr_pool, free_port, git_describe, lint_off_policy,
    run_wrk, running, split_pool, write_results,
)

TARGETS = ("bare/gunicorn", "bare/granian", "off/base", "off/gunicorn", "off/granian",
           "on/base", "on/gunicorn", "on/granian")


def _cli(tree: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "service.cli", *args], cwd=tree, env=env, capture_output=True,
                          text=True, check=True)
    return done.stdout


def prepare(tree: Path, data: Path, env: dict[str, str]) -> str:
    """`certgate init`, a requester token and the owned range, with `tree`'s own CLI; the token."""
    env = dict(env, CERTGATE_DATA_DIR=str(data), PYTHONPATH=str(tree))
    _cli(tree, env, "init")
    token = _cli(tree, env, "token", "create", "--role", "requester", "--name", "bench").strip().splitlines()[-1]
    _cli(tree, env, "ranges", "add", OWNED_RANGE, "--owner", "bench")
    if (tree / "service" / "domain_registry.py").exists():  # trees before the name rule (#13) have no domains
        _cli(tree, env, "domains", "add", OWNED_DOMAIN, "--owner", "bench")
    return token


def measure(name: str, argv: list[str], env: dict[str, str], cwd: Path, path: str, token: str | None,
            pool: Path, pems: list[bytes], offset: int, seconds: float, concurrency: int, work: Path,
            lint: bool | None) -> dict[str, Any]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [a.replace("{port}", str(port)) for a in argv]
    env = {k: v.replace("{base}", base) for k, v in env.items()}
    with running(name.replace("/", "-"), argv, env, base, work, cwd=cwd) as server:
        check_one(base + path, pems[-1], token, lint, base)
        run_wrk(base + path, pool, offset, 4, 2.0, token)  # warm-up
        pids = server.pids
        ticks0 = cpu_ticks(pids)
        r = run_wrk(base + path, pool, offset + 2000, concurrency, seconds, token)
        ticks = cpu_ticks(pids) - ticks0
    secs = r["duration_us"] / 1e6
    n = max(r["requests"], 1)
    point = {"target": name, "rps": r["requests"] / secs, "p50_ms": r["latency_us"]["p50"] / 1e3,
             "p99_ms": r["latency_us"]["p99"] / 1e3, "errors": r["other_status"] + sum(r["socket_errors"].values()),
             "cpu_ms_per_request": ticks * 1e3 / TICKS / n, "loadavg": os.getloadavg()[0], "requests": r["requests"]}
    print(f"  {name:14} {point['rps']:8.1f} req/s  p50 {point['p50_ms']:6.1f} ms  p99 {point['p99_ms']:6.1f} ms  "
          f"cpu {point['cpu_ms_per_request']:5.2f} ms/req  errors {point['errors']}  load {point['loadavg']:.2f}",
          file=sys.stderr)
    return point


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="51cb6d1", help="the commit to compare against (default 51cb6d1)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per measured point")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--only", default="bare,off,on", help="groups to run: bare, off, on (default all)")
    args = parser.parse_args()
    groups = set(args.only.split(","))
    targets = [t for t in TARGETS if t.split("/")[0] in groups]
    pool_size = 4000
    pool = csr_pool(pool_size)
    pems = split_pool(pool)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTGATE_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    meta: dict[str, Any] = {"started_at": datetime.now(UTC).isoformat(), "git": git_describe(ROOT),
                            "baseline": args.baseline, "rounds": args.rounds, "seconds": args.duration,
                            "concurrency": args.concurrency, "workers": 2, "cpus": os.cpu_count(),
                            "loadavg_before": os.getloadavg()}
    points: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="certgate-servers-") as tmp:
        work = Path(tmp)
        base_tree = work / "baseline"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base_tree), args.baseline],
                       check=True, capture_output=True)
        try:
            trees = {"base": base_tree, "gunicorn": ROOT, "granian": ROOT}
            tokens = {}
            print("preparing data dirs ...", file=sys.stderr)
            for tree_name in ("base", "this"):
                tree = base_tree if tree_name == "base" else ROOT
                tokens[tree_name] = prepare(tree, work / f"data-{tree_name}", env)
            lint_off = lint_off_policy(work / "policy-lint-off.toml")
            for r in range(args.rounds):
                order = targets[r % len(targets):] + targets[:r % len(targets)]
                print(f"round {r + 1}/{args.rounds} (load {os.getloadavg()[0]:.2f})", file=sys.stderr)
                for t in order:
                    group, server = t.split("/")
                    offset = (len(points) * 997) % pool_size
                    if group == "bare":
                        argv = [sys.executable, str(BENCH / "bare_issuer.py"), "--port", "{port}", "--workers", "2",
                                "--server", server]
                        p = measure(t, argv, dict(env, PYTHONPATH=str(ROOT)), ROOT, "/issue", None, pool, pems,
                                    offset, args.duration, args.concurrency, work, None)
                    else:
                        tree = trees[server]
                        tree_name = "base" if server == "base" else "this"
                        # Each run on its own copy of the prepared data dir: equal database sizes.
                        data = work / f"run-{len(points)}"
                        shutil.copytree(work / f"data-{tree_name}", data)
                        server_env = dict(env, CERTGATE_DATA_DIR=str(data), CERTGATE_BASE_URL="{base}",
                                          PYTHONPATH=str(tree))
                        if group == "off":
                            server_env["CERTGATE_POLICY_FILE"] = str(lint_off)
                        argv = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", "{port}",
                                "--workers", "2"]
                        if server != "base":
                            argv += ["--server", server]
                        p = measure(t, argv, server_env, tree, "/api/v1/requests", tokens[tree_name], pool, pems,
                                    offset, args.duration, args.concurrency, work, group == "on")
                        shutil.rmtree(data, ignore_errors=True)
                    p["round"] = r
                    points.append(p)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base_tree)],
                           capture_output=True)
    meta["loadavg_after"] = os.getloadavg()
    table = render(points, targets, args.rounds)
    print(table)
    written = write_results("servers", {"meta": meta, "points": points, "table": table})
    print(f"\nwritten bench/results/{written}", file=sys.stderr)


RATIOS = (("bare/granian", "bare/gunicorn"), ("off/gunicorn", "off/base"), ("off/granian", "off/base"),
          ("off/granian", "off/gunicorn"), ("on/gunicorn", "on/base"), ("on/granian", "on/base"),
          ("on/granian", "on/gunicorn"))


def render(points: list[dict[str, Any]], targets: list[str], rounds: int) -> str:
    """A markdown table (median over rounds, range in brackets) and the per-round ratios."""
    lines = ["| target | req/s (median, range) | p50 ms | p99 ms | server CPU ms/req | errors | load avg |",
             "|---|---|---|---|---|---|---|"]
    for t in targets:
        ps = [p for p in points if p["target"] == t]
        if not ps:
            continue
        rps = [p["rps"] for p in ps]
        lines.append(f"| {t} | {statistics.median(rps):.0f} ({min(rps):.0f}-{max(rps):.0f}) | "
                     f"{statistics.median(p['p50_ms'] for p in ps):.1f} | {statistics.median(p['p99_ms'] for p in ps):.1f} | "
                     f"{statistics.median(p['cpu_ms_per_request'] for p in ps):.2f} | {sum(p['errors'] for p in ps)} | "
                     f"{statistics.median(p['loadavg'] for p in ps):.2f} |")
    lines += ["", "| ratio (same round) | req/s: median | per round | by CPU per request: median | per round |",
              "|---|---|---|---|---|"]
    for a, b in RATIOS:
        per, cpu = [], []
        for r in range(rounds):
            pa = [p for p in points if p["target"] == a and p["round"] == r]
            pb = [p for p in points if p["target"] == b and p["round"] == r]
            if pa and pb:
                per.append(pa[0]["rps"] / pb[0]["rps"])
                cpu.append(pb[0]["cpu_ms_per_request"] / pa[0]["cpu_ms_per_request"])
        if per:
            lines.append(f"| {a} / {b} | {statistics.median(per):.2f} | {', '.join(f'{x:.2f}' for x in per)} | "
                         f"{statistics.median(cpu):.2f} | {', '.join(f'{x:.2f}' for x in cpu)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
