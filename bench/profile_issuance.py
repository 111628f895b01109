"""Where certgate's issuance time goes: py-spy on the gunicorn workers, and pkilint per validator.

    python bench/profile_issuance.py [--seconds 15] [--concurrency 2] [--lint-certs 200]

1. For lint off and lint on: start `certgate serve` (2 sync workers, preloaded), warm it up,
   drive it with wrk, and sample the workers with `py-spy record --subprocesses`. Every CPU
   sample is charged to one step of the request (the first matching rule in `STEPS`), so the
   shares add up to 100 %; the server's CPU ms/request turns shares into milliseconds. Library
   totals (any frame of SQLAlchemy, pkilint, marshmallow, ... on the stack) are printed beside.
2. `Linter.lint` alone on certgate's own leaves (each with its own key, names and serial): ms per
   certificate with and without its memo (taking turns on each leaf), its phases, and the
   validators that take the time (pkilint's recursive walk re-implemented with timers).

Raw collapsed stacks (flamegraph.pl input) go to bench/results/profile-lint-{off,on}.txt and
the numbers to bench/results/profile-latest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import harness  # noqa: E402  (servers, CSR pool, wrk)

PY_SPY = Path(sys.executable).parent / "py-spy"


@dataclass(frozen=True)
class Step:
    """A request step: a sample whose stack has a frame matching `frame` (and `file`) is charged here."""

    name: str
    frame: str
    file: str = ""

    def matches(self, frames: list[str]) -> bool:
        return any(f.startswith(self.frame) and self.file in f for f in frames)


def _trial_sign_frame(tree: Path) -> str:
    """The frame of `CertificateAuthority.issue` at the line that signs the lint trial certificate."""
    source = (tree / "service" / "ca" / "authority.py").read_text().splitlines()
    line = next(i for i, text in enumerate(source, 1) if "trial = builder.sign(" in text)
    return f"CertificateAuthority.issue (service/ca/authority.py:{line})"


def steps_for(tree: Path) -> tuple[Step, ...]:
    """The steps, in order: the first match wins, so nested steps come before those around them."""
    return (Step("lint: pkilint (Linter.lint)", "Linter.lint"),
            Step("lint: trial signature with the throwaway key", _trial_sign_frame(tree)), *STEPS)


def _idle_frames(tree: Path) -> tuple[str, ...]:
    """Leaf frames where a sampled thread waits rather than runs: py-spy may still sample them.

    The writer lock's poll sleep, and the WAL checkpoint thread between rounds.
    """
    waits = ("Condition.wait (", "Event.wait (")
    lock = tree / "service" / "db" / "writer_lock.py"
    if not lock.exists():  # an older tree (--source)
        return waits
    line = next(i for i, text in enumerate(lock.read_text().splitlines(), 1) if "time.sleep(pause)" in text)
    return (f"SqliteWriterLock._acquire (service/db/writer_lock.py:{line})", *waits)


STEPS = (
    Step("WAL checkpoint (the worker's background thread)", "WalCheckpointer._run"),
    Step("SQLite writer lock (flock, without its waits)", "SqliteWriterLock"),
    Step("token auth (hash + SELECT api_tokens)", "current_principal"),
    Step("CSR load + strict DER + signature check", "load_csr"),
    Step("CSR facts", "request_facts"),
    Step("policy: weak-key checks", "", "policies/weakkeys.py"),
    Step("policy: grant lookup (SELECT grants)", "Judge.context"),
    Step("policy: pure rules (engine)", "evaluate", "policies/engine.py"),
    Step("policy: other", "Judge.decide"),
    Step("X.509 build + sign (real key)", "Issuer.sign"),
    Step("audit append (lock row, leaf hash, INSERT)", "append_event"),
    Step("rows: certificate + names INSERT", "record_certificate"),
    Step("rows: request row (+ CSR re-encode)", "_request_row"),
    Step("transaction begin/commit, pool checkout", "Database._direct"),
    Step("response: presenters + marshmallow + JSON", "present", "api/requests.py"),
    Step("submit_request: other (request INSERT, ...)", "submit_request"),
    Step("response: flask-smorest dump", "ResponseMixin", "flask_smorest/response.py"),
    Step("view + webargs/smorest wrappers", "Requests.post"),
    Step("Flask/werkzeug request + routing", "Flask.wsgi_app"),
    Step("gunicorn: parse request, write response", "SyncWorker.handle"),
    Step("gunicorn: accept/select/other", ""),
)

LIBRARIES = {
    "SQLAlchemy + SQLModel (incl. sqlite3 calls)": ("sqlalchemy/", "sqlmodel/"),
    "pydantic (SQLModel row construction)": ("pydantic/",),
    "pkilint + pyasn1": ("pkilint/", "pyasn1"),
    "cryptography (Python frames over Rust/OpenSSL)": ("cryptography/",),
    "marshmallow + flask-smorest + webargs": ("marshmallow/", "flask_smorest/", "webargs/"),
    "Flask + werkzeug": ("flask/", "werkzeug/"),
    "json (stdlib)": ("json/",),
}


def _frames(stack: str) -> list[str]:
    return [f for f in stack.split(";") if not f.startswith("process ")]


def analyse(raw: Path, steps_in_order: tuple[Step, ...], idle: tuple[str, ...] = ()) -> dict[str, Any]:
    """Charge each worker CPU sample to one step; count library presence (inclusive).

    Samples of a wait (`idle` leaf frames) are not CPU and are dropped.
    """
    steps: Counter[str] = Counter()
    libs: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = _frames(stack)
        if not any(f.startswith(("Worker.init_process", "WalCheckpointer._run")) for f in frames):
            continue  # the arbiter
        if frames and frames[-1].startswith(idle):
            continue
        n = int(count)
        total += n
        steps[next(s.name for s in steps_in_order if s.matches(frames))] += n
        for lib, needles in LIBRARIES.items():
            if any(any(x in f for x in needles) for f in frames):
                libs[lib] += n
    return {"samples": total,
            "steps": {s.name: steps[s.name] / total for s in steps_in_order if steps[s.name]} if total else {},
            "libraries": {k: v / total for k, v in libs.most_common()} if total else {}}


def profile_server(lint: bool, seconds: float, concurrency: int, work: Path, token: str, pool: Path,
                   source: Path = harness.ROOT) -> dict[str, Any]:
    """py-spy over both workers while wrk keeps `concurrency` requests in flight."""
    target = "on" if lint else "off"
    port = harness.free_port()
    base = f"http://127.0.0.1:{port}"
    data = work / f"data-{target}"
    shutil.copytree(work / "data", data)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTGATE_")}
    env.update(PYTHONPATH=str(source), CERTGATE_DATA_DIR=str(data), CERTGATE_BASE_URL=base)
    if not lint:
        env["CERTGATE_POLICY_FILE"] = str(harness.lint_off_policy(work / "policy-lint-off.toml"))
    argv = [sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--workers", "2"]
    raw = harness.RESULTS / f"profile-lint-{target}.txt"
    offset = 0 if not lint else 2000
    with harness.running(f"certgate-lint-{target}", argv, env, base, work, cwd=source) as server:
        url = base + "/api/v1/requests"
        warm = harness.run_wrk(url, pool, offset, 4, 3, token)
        offset += warm["requests"] + 5
        pids = server.pids
        load = subprocess.Popen(["wrk", "-t1", f"-c{concurrency}", f"-d{round(seconds) + 2}s", "--timeout", "10s",
                                 "-s", str(harness.LUA), url, "--", str(pool), str(offset), "1", token],
                                stdout=subprocess.PIPE, text=True)
        time.sleep(1)
        ticks0 = harness.cpu_ticks(pids)
        spy = subprocess.run([str(PY_SPY), "record", "--subprocesses", "--pid", str(server.proc.pid), "--rate", "250",
                              "--duration", str(round(seconds)), "--format", "raw", "--output", str(raw)],
                             capture_output=True, text=True)
        ticks = harness.cpu_ticks(pids) - ticks0
        out, _ = load.communicate()
        if spy.returncode != 0:
            raise RuntimeError(f"py-spy failed: {spy.stderr}")
    wrk = json.loads(next(ln for ln in out.splitlines() if ln.startswith("BENCHJSON ")).removeprefix("BENCHJSON "))
    rps = wrk["requests"] / (wrk["duration_us"] / 1e6)
    result = analyse(raw, steps_for(source), _idle_frames(source))
    # CPU ms/request over the sampled window (py-spy pauses the workers a little: an upper bound).
    result["cpu_ms_per_request"] = ticks * 1e3 / harness.TICKS / max(1.0, rps * round(seconds))
    result["rps_under_profiler"] = rps
    result["raw"] = str(raw.relative_to(harness.ROOT))
    return result


# ---------------------------------------------------------------------------------------------
# pkilint alone


def sample_leaves(work: Path, n: int) -> list[bytes]:
    """certgate's own lint input: `n` leaves from its profile, each with its own key, names and
    serial (as issuance sees them), signed by a throwaway key as `issue` does."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from service.ca.authority import CertificateAuthority, init_ca, new_serial
    from service.ca.keystore import CaKeyType, signature_hash
    from service.ca.profile import IssueOrder, leaf_builder

    now = datetime.now(UTC)
    init_ca(work / "lint-ca", CaKeyType.P256, None, now, "http://127.0.0.1:8000")
    ca = CertificateAuthority.load(work / "lint-ca", None, "http://127.0.0.1:8000")
    throwaway = ec.generate_private_key(ec.SECP256R1())
    leaves = []
    for i in range(n):
        key = ec.generate_private_key(ec.SECP256R1())
        order = IssueOrder(public_key=key.public_key(), common_name=f"h{i}.bench.example.com",
                           dns_names=(f"h{i}.bench.example.com",), ip_addresses=("5.6.7.8",), not_before=now,
                           not_after=now + timedelta(days=90), serial=new_serial())
        cert = leaf_builder(order, ca.issuing_cert, ca.urls).sign(throwaway, signature_hash(throwaway))
        leaves.append(cert.public_bytes(serialization.Encoding.DER))
    return leaves


def _timed(action: Callable[[Any], Any], n: int, setup: Callable[[], Any] = lambda: None) -> tuple[float, float]:
    """p50 and p90 of the thread's CPU time per `action(setup())`, in ms (steadier than wall time
    on a shared host); `setup` runs outside the timer."""
    laps = []
    for _ in range(n):
        arg = setup()
        t = time.thread_time_ns()
        action(arg)
        laps.append(time.thread_time_ns() - t)
    laps.sort()
    return statistics.median(laps) / 1e6, laps[int(n * 0.9)] / 1e6


def _timed_side_by_side(actions: dict[str, Callable[[Any], Any]], leaves: list[bytes],
                        setup: Callable[[bytes], Any] = lambda der: der) -> dict[str, tuple[float, float]]:
    """p50 and p90 CPU ms of each `action(setup(leaf))` over `leaves`, the actions taking turns on
    every leaf (the first one rotating), so that a neighbour's load on this shared host falls on
    all of them alike; `setup` runs outside the timer."""
    laps: dict[str, list[int]] = {name: [] for name in actions}
    names = list(actions)
    for i, der in enumerate(leaves):
        for name in names[i % len(names):] + names[:i % len(names)]:
            arg = setup(der)
            t = time.thread_time_ns()
            actions[name](arg)
            laps[name].append(time.thread_time_ns() - t)
    out = {}
    for name, found in laps.items():
        found.sort()
        out[name] = (statistics.median(found) / 1e6, found[int(len(found) * 0.9)] / 1e6)
    return out


def lint_breakdown(leaves: list[bytes], n: int) -> dict[str, Any]:
    """Time `Linter.lint` per certificate (with and without its memo, over distinct leaves), its
    phases, and each validator (match and validate)."""
    from pkilint import finding_filter
    from pkilint.cabf import serverauth
    from pkilint.validation import ValidatorContainer

    from service.ca.lint import LeafKind, Linter

    der = leaves[0]
    linter = Linter()  # what issuance runs: validators built once, indexed dispatch, memo
    unmemoized = Linter(memoized=False)
    plain = Linter(indexed=False, memoized=False)  # pkilint's own walk, which the per-validator timing patches
    plain_memo = Linter(indexed=False)  # the same walk with the memo, for the per-validator columns
    for warm in leaves[:20]:
        linter.lint(warm), unmemoized.lint(warm)
    for i, d in enumerate(leaves):  # the findings must not change, on any leaf
        if i % 10 == 0 and linter.lint(d) != plain.lint(d):
            raise AssertionError("the memoized linter's findings differ from pkilint's own")
    side = _timed_side_by_side({"memo": linter.lint, "no memo": unmemoized.lint}, leaves[:n])
    whole = side["memo"]
    memo = linter.memo
    assert memo is not None
    memo_state = {"entries": len(memo), "hits": memo.hits, "misses": memo.misses,
                  "kept": sorted(f"{k[0]} {type(v[0]).__name__ if k[0] == 'decode' else k[2]}"
                                 for k, v in memo.items()
                                 if k[0] == "uri" or k[2] in der)}  # the entries this leaf shares
    compiled = plain._compiled[LeafKind.DV]  # the sample leaves are DV (no organization)
    container, filters, loader = compiled._validator, compiled._filters, compiled._loader
    indexed = unmemoized._compiled[LeafKind.DV]._validator
    indexed_memo = linter._compiled[LeafKind.DV]._validator
    fresh = lambda: loader.load_der_document(der, "certificate")  # noqa: E731
    phases = {
        "load_der_document": _timed(lambda _: fresh(), n),
        "determine_certificate_type": _timed(serverauth.determine_certificate_type, n, fresh),
    }
    phases.update(_timed_side_by_side({
        "validate, pkilint's dispatch (decoding + all validators)": lambda d: container.validate(d.root),
        "validate, certgate's indexed dispatch": lambda d: indexed.validate(d.root),
        "validate, indexed dispatch + memo": lambda d: indexed_memo.validate(d.root),
    }, leaves[:n], lambda der: loader.load_der_document(der, "certificate")))
    results = container.validate(fresh().root)
    phases["filter_results"] = _timed(lambda _: finding_filter.filter_results(filters, results), n)

    # pkilint's walk offers every node of the (decoded) tree to every validator of the container
    # holding it: time that walk with the validate() calls left out, on a tree that a previous
    # validation has decoded already (decoding validators add extension values as child nodes).
    decoded = fresh()
    container.validate(decoded.root)
    flat = _walk(container)
    nodes = _nodes(decoded.root)
    match_calls = [0]

    def match_walk(c: Any, node: Any) -> None:
        for v in c.validators:
            match_calls[0] += 1
            if v.match(node) and isinstance(v, ValidatorContainer):
                match_walk(v, node)
        for child in node.children.values():
            match_walk(c, child)

    match_walk(container, decoded.root)
    calls_per_cert = match_calls[0]
    phases["of which the walk: match() calls alone"] = _timed(lambda _: match_walk(container, decoded.root), n)

    # Then the walk again, timing validate() of each matched validator (few calls, so the timers
    # barely distort it), without and with the memo, on distinct leaves.
    walkers = {"no memo": container, "memo": plain_memo._compiled[LeafKind.DV]._validator}
    spent: dict[str, dict[str, float]] = {name: defaultdict(float) for name in walkers}
    calls: Counter[str] = Counter()
    current = ["no memo"]
    original = ValidatorContainer._validate_rec

    def timed_rec(self: Any, node: Any, results: list[Any]) -> None:
        for v in self.validators:
            if v.match(node):
                if isinstance(v, ValidatorContainer):
                    result = v.validate_wrapper(node)
                else:
                    t = time.thread_time_ns()
                    result = v.validate_wrapper(node)
                    spent[current[0]][type(v).__name__] += (time.thread_time_ns() - t) / 1e9
                    if current[0] == "no memo":
                        calls[type(v).__name__] += 1
                results += result if isinstance(result, list) else [result]
        for child in node.children.values():
            timed_rec(self, child, results)

    ValidatorContainer._validate_rec = timed_rec  # type: ignore[method-assign]
    try:
        rounds = max(20, n // 2)
        for i in range(rounds):  # the two walks take turns on each leaf
            for name in (list(walkers) if i % 2 else list(walkers)[::-1]):
                current[0] = name
                walkers[name].validate(loader.load_der_document(leaves[i % len(leaves)], "certificate").root)
    finally:
        ValidatorContainer._validate_rec = original  # type: ignore[method-assign]
    per_cert = {k: v * 1e3 / rounds for k, v in spent["no memo"].items()}
    per_cert_memo = {k: v * 1e3 / rounds for k, v in spent["memo"].items()}
    calls = Counter({k: c // rounds for k, c in calls.items()})
    top = sorted(per_cert.items(), key=lambda kv: -kv[1])[:15]
    return {
        "lint_ms": {"p50": whole[0], "p90": whole[1]},
        "lint_ms_side_by_side": {k: {"p50": v[0], "p90": v[1]} for k, v in side.items()},
        "memo": memo_state,
        "phases_ms_p50": {k: v[0] for k, v in phases.items()},
        "validators": len(flat),
        "nodes": len(nodes),
        "match_calls": calls_per_cert,
        "validate_ms_total": sum(per_cert.values()),
        "validate_ms_total_memo": sum(per_cert_memo.values()),
        "top_validators_ms": [{"validator": k, "ms": v, "ms_memo": per_cert_memo.get(k, 0.0), "calls": calls[k]}
                              for k, v in top],
        "findings": sorted({d.finding.code for r in results for d in r.finding_descriptions}),
    }


def _nodes(node: Any) -> list[Any]:
    found = [node]
    for child in node.children.values():
        found += _nodes(child)
    return found


def _walk(container: Any) -> list[Any]:
    from pkilint.validation import ValidatorContainer

    found = []
    for v in container.validators:
        found += _walk(v) if isinstance(v, ValidatorContainer) else [v]
    return found


# ---------------------------------------------------------------------------------------------


def render(servers: dict[str, dict[str, Any]], lint: dict[str, Any]) -> str:
    lines = ["certgate issuance profile: py-spy samples of both gunicorn workers, charged to request steps", ""]
    off, on = servers.get("off"), servers.get("on")
    header = f"{'step':48} | {'lint off':>15} | {'lint on':>15}"
    lines += [header, f"{'':48} | {'%':>6} {'ms/req':>8} | {'%':>6} {'ms/req':>8}", "-" * len(header)]
    names = [s.name for s in steps_for(harness.ROOT)]
    for name in names:
        cells = []
        for r in (off, on):
            share = r["steps"].get(name) if r else None
            cells.append(f"{'':>15}" if share is None else f"{share * 100:6.1f} {share * r['cpu_ms_per_request']:8.2f}")
        if any(c.strip() for c in cells):
            lines.append(f"{name:48} | {cells[0]} | {cells[1]}")
    lines.append("-" * len(header))
    for label, key in (("server CPU ms/request (under the profiler)", "cpu_ms_per_request"),
                       ("req/s under the profiler", "rps_under_profiler"), ("samples", "samples")):
        lines.append(f"{label:48} | " + " | ".join(
            f"{'':>6} {r[key]:8.1f}" if r else f"{'':>15}" for r in (off, on)))
    lines += ["", "Libraries anywhere on the stack (inclusive, overlapping):"]
    libs = sorted({k for r in (off, on) if r for k in r["libraries"]})
    for lib in libs:
        lines.append(f"  {lib:48} | " + " | ".join(
            f"{r['libraries'].get(lib, 0) * 100:6.1f} %{'':7}" if r else f"{'':>15}" for r in (off, on)))
    if lint:
        side = lint["lint_ms_side_by_side"]
        lines += ["", f"Linter.lint on certgate's leaves (distinct keys, names, serials), taking turns, CPU per certificate "
                  f"({lint['validators']} validators):"]
        for name, ms in side.items():
            lines.append(f"  {name:44} p50 {ms['p50']:6.2f} ms   p90 {ms['p90']:6.2f} ms")
        m = lint["memo"]
        lines.append(f"  memo: {m['entries']} entries, {m['hits']} hits, {m['misses']} misses; shared by every leaf: "
                     f"{', '.join(m['kept'])}")
        lines.append("Phases (p50):")
        for k, v in lint["phases_ms_p50"].items():
            lines.append(f"  {k:56} {v:7.2f} ms")
        lines.append(f"  {lint['nodes']} nodes, {lint['validators']} validators, {lint['match_calls']} match() calls; "
                     f"validate() of the matched ones {lint['validate_ms_total']:.2f} ms "
                     f"({lint['validate_ms_total_memo']:.2f} ms with the memo), the top:")
        lines.append(f"    {'':58} {'no memo':>9} {'memo':>9}")
        for row in lint["top_validators_ms"]:
            lines.append(f"    {row['validator']:58} {row['ms']:6.3f} ms {row['ms_memo']:6.3f} ms  ({row['calls']} calls)")
        lines.append(f"  findings on the trial certificate: {', '.join(lint['findings']) or 'none'}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="py-spy window per server (default 15)")
    parser.add_argument("--concurrency", type=int, default=2, help="wrk connections: one per worker (default 2)")
    parser.add_argument("--lint-certs", type=int, default=200, help="certificates for the lint timing (default 200; 0 skips it)")
    parser.add_argument("--skip-servers", action="store_true", help="only the pkilint breakdown")
    parser.add_argument("--source", type=Path, default=harness.ROOT, help="profile certgate from this checkout")
    args = parser.parse_args()
    if not PY_SPY.exists():
        sys.exit(f"py-spy not found next to {sys.executable}: pip install py-spy")
    pool = harness.csr_pool(4000)
    servers: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="certgate-profile-") as tmp:
        work = Path(tmp)
        if not args.skip_servers:
            token = harness.prepare_certgate(work / "data")
            for lint in (False, True):
                print(f"profiling certgate, lint {'on' if lint else 'off'} ...", file=sys.stderr)
                servers["on" if lint else "off"] = profile_server(lint, args.seconds, args.concurrency, work, token, pool,
                                                                  args.source.resolve())
        lint: dict[str, Any] = {}
        if args.lint_certs:
            print("timing Linter.lint ...", file=sys.stderr)
            lint = lint_breakdown(sample_leaves(work, args.lint_certs), args.lint_certs)
    text = render(servers, lint)
    print(text)
    harness.RESULTS.mkdir(parents=True, exist_ok=True)
    (harness.RESULTS / "profile-latest.json").write_text(
        json.dumps({"at": datetime.now(UTC).isoformat(), "servers": servers, "lint": lint, "table": text}, indent=2))


if __name__ == "__main__":
    main()
