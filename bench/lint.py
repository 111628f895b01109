"""pkilint per leaf, in-process: pkilint's own full run, certgate's linter at 51cb6d1, main and now, taking turns.

    python bench/lint.py [--leaves 300] [--rounds 5] [--baseline 51cb6d1] [--before main] [--profile]

The leaves are what certgate's issuer lints: its profile (a DNS name and an owned IP, P-256
keys, DV), signed by the issuing CA's trial key, from a P-256 CA. Each round runs, in a fresh
process each and in rotating order (the machine is shared: each round sees the same weather):
  pkilint   pkilint's own validators, loader, dispatch and filters, as `lint_cabf_serverauth_cert`
            runs them (what `tests/service/ca/test_lint_differential.py` holds certgate's to)
  51cb6d1   `Linter()` from a `git worktree` of the baseline commit (made and removed here)
  main      `Linter()` from a `git worktree` of `--before` (the tree this one changes)
  now       `Linter()` from this tree
CPU ms per leaf (process time; best of 3 passes after a warm-up) per round; the table shows
the best round and the median. `--profile` adds cProfile's costliest functions for `--before`
and now (own time, and cumulative time: where a leaf's lint goes).
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import ROOT, write_results  # noqa: E402


def make_leaves(count: int) -> list[bytes]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from service.ca.authority import CertificateAuthority, init_ca, new_serial, trial_key
    from service.ca.keystore import CaKeyType, load_private_key, signature_hash
    from service.ca.profile import IssueOrder, leaf_builder

    now = datetime.now(UTC)
    home = Path(tempfile.mkdtemp(prefix="certgate-lint-bench-"))
    init_ca(home, CaKeyType.P256, None, now, "http://127.0.0.1:8000")
    ca = CertificateAuthority.load(home, None, "http://127.0.0.1:8000")
    throwaway = trial_key(load_private_key(home / "issuing.key.pem", None))
    leaves = []
    for i in range(count):
        name = f"h{i}.bench.example.com"
        order = IssueOrder(ec.generate_private_key(ec.SECP256R1()).public_key(), common_name=name, dns_names=(name,),
                           ip_addresses=(f"5.6.7.{i % 254 + 1}",), not_before=now, not_after=now + timedelta(days=90),
                           serial=new_serial())
        cert = leaf_builder(order, ca.issuing_cert, ca.urls).sign(throwaway, signature_hash(throwaway))
        leaves.append(cert.public_bytes(serialization.Encoding.DER))
    return leaves


_MEASURE = """
import base64, sys, time
from service.ca.lint import LeafKind, Linter
mode, path, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
leaves = [base64.b64decode(line) for line in open(path).read().split()]
if mode == "pkilint":
    from pkilint import finding_filter, loader
    from pkilint.cabf import serverauth
    from pkilint.cabf.serverauth.serverauth_constants import CertificateType
    from pkilint.pkix import certificate as pkix_certificate
    cert_type = CertificateType.DV_FINAL_CERTIFICATE
    validator = pkix_certificate.create_pkix_certificate_validator_container(
        serverauth.create_decoding_validators(), serverauth.create_validators(cert_type))
    filters = serverauth.create_serverauth_finding_filters(cert_type)
    def lint(der):
        document = loader.RFC5280CertificateDocumentLoader().load_der_document(der, "certificate")
        results, _ = finding_filter.filter_results(filters, validator.validate(document.root))
        return [(d.finding.code, r.node.path) for r in results for d in r.finding_descriptions]
else:
    linter = Linter()
    def lint(der):
        return [(f.code, f.node_path) for f in linter.lint(der, LeafKind.DV)]
found = [lint(der) for der in leaves]  # warm-up (and the findings)
if mode == "profile":
    import cProfile, pstats
    profiler = cProfile.Profile()
    profiler.enable()
    for der in leaves:
        lint(der)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    sys.exit(0)
best = []
for _ in range(rounds):
    started = time.process_time()
    for der in leaves:
        lint(der)
    best.append((time.process_time() - started) * 1e3 / len(leaves))
print("RESULT", min(best), hash(repr(found)))
"""


def _run(tree: Path, mode: str, leaves_file: Path, rounds: int) -> tuple[float, int] | str:
    env = dict(os.environ, PYTHONPATH=str(tree))
    done = subprocess.run([sys.executable, "-c", _MEASURE, mode, str(leaves_file), str(rounds)], cwd=tree, env=env,
                          capture_output=True, text=True, check=True)
    if mode == "profile":
        return done.stdout
    _, ms, digest = done.stdout.strip().splitlines()[-1].split()
    return float(ms), int(digest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", default="51cb6d1")
    parser.add_argument("--before", default="main", help="the revision this tree is measured against")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    leaves = make_leaves(args.leaves)
    per_round: dict[str, list[float]] = {"pkilint": [], args.baseline: [], args.before: [], "now": []}
    digests: dict[str, set[int]] = {name: set() for name in per_round}
    load = []
    profiles: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="certgate-lint-") as tmp:
        leaves_file = Path(tmp) / "leaves.b64"
        leaves_file.write_text("\n".join(base64.b64encode(der).decode() for der in leaves))
        base_tree, before_tree = Path(tmp) / "baseline", Path(tmp) / "before"
        for tree, rev in ((base_tree, args.baseline), (before_tree, args.before)):
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), rev],
                           check=True, capture_output=True)
        try:
            trees = {"pkilint": ROOT, args.baseline: base_tree, args.before: before_tree, "now": ROOT}
            for r in range(args.rounds):
                names = list(per_round)
                for name in names[r % len(names):] + names[:r % len(names)]:
                    result = _run(trees[name], "pkilint" if name == "pkilint" else "linter", leaves_file, 3)
                    assert not isinstance(result, str)
                    per_round[name].append(result[0])
                    digests[name].add(result[1])
                load.append(os.getloadavg()[0])
                print(f"round {r + 1}: " + ", ".join(f"{n} {v[-1]:.2f}" for n, v in per_round.items()), file=sys.stderr)
            if args.profile:
                for name in (args.before, "now"):
                    profiles[name] = str(_run(trees[name], "profile", leaves_file, 1))
        finally:
            for tree in (base_tree, before_tree):
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], capture_output=True)
    # Python's str hash is salted per process: equal findings show as equal digests only within a
    # process, so identity of findings is the differential test's job; here each linter's own
    # findings must merely be stable from round to round.
    lines = [f"pkilint per leaf, in-process: {args.leaves} certgate leaves (P-256, DV, a DNS name and an IP), "
             f"{args.rounds} rounds taking turns (each the best of 3 passes), load average "
             f"{min(load):.1f}-{max(load):.1f}", "",
             f"| linter | CPU ms/leaf, best round | median | x pkilint (median) | {args.before} / this (median) |",
             "|---|---|---|---|---|"]
    base = statistics.median(per_round["pkilint"])
    before = statistics.median(per_round[args.before])
    for name, values in per_round.items():
        lines.append(f"| {name} | {min(values):.2f} | {statistics.median(values):.2f} | "
                     f"{base / statistics.median(values):.2f} | {before / statistics.median(values):.2f} |")
    table = "\n".join(lines)
    print(table)
    for name, text in profiles.items():
        print(f"\ncProfile, {name} ({args.leaves} leaves, own time first):\n{text}")
    doc: dict[str, Any] = {"per_round_ms": per_round, "loadavg": load, "table": table, "profiles": profiles}
    print(f"written bench/results/{write_results('lint', doc)}", file=sys.stderr)


if __name__ == "__main__":
    main()
