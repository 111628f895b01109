"""pkilint per leaf, in-process: pkilint's own full run, the linter as at 51cb6d1, and today's, taking turns.

    python bench/lint.py [--leaves 300] [--rounds 7] [--profile]

The leaves are what certgate's issuer lints: its profile (a DNS name and an owned IP, P-256
keys, DV), signed by the issuing CA's trial key, from a P-256 CA. Three linters lint every leaf,
taking turns round by round (the machine is shared: each round sees the same disturbance):
  pkilint   pkilint's own dispatch and decoding (`Linter(indexed=False, memoized=False)`, which
            is exactly what `tests/service/ca/test_lint_differential.py` holds the others to)
  51cb6d1   indexed dispatch + decode memo (`Linter(spliced=False)`: the code at 51cb6d1)
  now       + leaves spliced from remembered parts (`Linter()`)
CPU ms per leaf (process time) per round; the table shows the best round and the median.
`--profile` adds cProfile's costliest functions (by own time) for 51cb6d1 and now.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import tempfile
import time
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    from service.ca.lint import LeafKind, Linter

    leaves = make_leaves(args.leaves)
    linters = {"pkilint": Linter(indexed=False, memoized=False), "51cb6d1": Linter(spliced=False), "now": Linter()}
    findings = {}
    for name, linter in linters.items():
        findings[name] = [linter.lint(der, LeafKind.DV) for der in leaves]  # warm-up, and the findings to compare
    same = findings["pkilint"] == findings["51cb6d1"] == findings["now"]
    per_round: dict[str, list[float]] = {name: [] for name in linters}
    load = []
    for r in range(args.rounds):
        order = list(linters)[r % 3:] + list(linters)[:r % 3]
        for name in order:
            linter = linters[name]
            started = time.process_time()
            for der in leaves:
                linter.lint(der, LeafKind.DV)
            per_round[name].append((time.process_time() - started) * 1e3 / len(leaves))
        load.append(os.getloadavg()[0])
    lines = [f"pkilint per leaf, in-process, {args.leaves} leaves x {args.rounds} rounds, "
             f"load average {min(load):.1f}-{max(load):.1f}; findings identical: {same}", "",
             "| linter | CPU ms/leaf, best round | median | x pkilint (median) |", "|---|---|---|---|"]
    base = statistics.median(per_round["pkilint"])
    for name, values in per_round.items():
        lines.append(f"| {name} | {min(values):.2f} | {statistics.median(values):.2f} | "
                     f"{base / statistics.median(values):.2f} |")
    profiles: dict[str, str] = {}
    if args.profile:
        for name in ("51cb6d1", "now"):
            profiler = cProfile.Profile()
            profiler.enable()
            for der in leaves:
                linters[name].lint(der, LeafKind.DV)
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
            profiles[name] = out.getvalue()
    table = "\n".join(lines)
    print(table)
    for name, text in profiles.items():
        print(f"\ncProfile, {name} ({args.leaves} leaves, own time first):\n{text}")
    doc: dict[str, Any] = {"per_round_ms": per_round, "loadavg": load, "identical": same, "table": table,
                           "profiles": profiles, "git": str(ROOT)}
    print(f"written bench/results/{write_results('lint', doc)}", file=sys.stderr)


if __name__ == "__main__":
    main()
