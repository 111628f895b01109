"""What read-your-writes costs a request: the change-log head check, alone and inside a decision.

One command: `python bench/range_heads.py [--ranges 100000] [--postgres URL]`. It migrates a fresh
SQLite database (and a PostgreSQL one when a URL is given), imports random owned ranges, builds
a worker's registry, and then times, in alternating rounds (best of 15, the machine is shared):
an empty read unit (pool checkout, begin, end), the same unit with the head check, and a whole
`Judge.decide` of one request with and without the check (the registry current, as it is on all
but the request right after a change). Prints one table per database.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from policies.config import DEFAULT_POLICY_PATH  # noqa: E402
from policies.facts import KeyAlgorithm, KeyFacts, RequestFacts  # noqa: E402
from service.change_heads import ChangeHeads  # noqa: E402
from service.db.migrate import upgrade  # noqa: E402
from service.db.session import Database  # noqa: E402
from service.domain_registry import DomainRegistry  # noqa: E402
from service.judge import Judge  # noqa: E402
from service.policy_store import load_policy  # noqa: E402
from service.public_suffixes import suffixes_for  # noqa: E402
from service.range_registry import RangeRegistry  # noqa: E402
from service.usecases.ranges import import_ranges, parse_import  # noqa: E402

NOW = datetime(2026, 12, 3, tzinfo=UTC)
ROUNDS = 15
FACTS = RequestFacts(KeyFacts(KeyAlgorithm.EC, 256, "ab" * 32, curve="secp256r1"), None, (), ("44.1.2.3",), "00" * 32, None)


def best_per_call(work: Callable[[], None], calls: int) -> float:
    """Seconds per call of the fastest of one round of `calls` calls."""
    started = time.perf_counter()
    for _ in range(calls):
        work()
    return (time.perf_counter() - started) / calls


def measure(db: Database, ranges: int, calls: int) -> list[tuple[str, float]]:
    rng = random.Random(7)
    lines = [f"44.{rng.randrange(256)}.{rng.randrange(256)}.0/24,o\n" for _ in range(ranges)]
    with db.write() as session:
        import_ranges(session, parse_import(sorted(set(lines))), actor="bench", now=NOW)
    registry = RangeRegistry(db)
    registry.refresh()
    heads = ChangeHeads([registry])
    loaded = load_policy(DEFAULT_POLICY_PATH)
    domains, suffixes = DomainRegistry(db), suffixes_for(loaded.path, loaded.policy.names.public_suffix_file)
    with_check = Judge(loaded, registry, domains, suffixes, heads=heads)
    without = Judge(loaded, registry, domains, suffixes)

    def empty() -> None:
        with db.direct_read():
            pass

    def head_check() -> None:
        with db.direct_read() as reads:
            heads.catch_up(reads)

    def decide(judge: Judge) -> Callable[[], None]:
        def run() -> None:
            with db.direct_read() as reads:
                judge.decide(FACTS, requester="alice", reads=reads, now=NOW)
        return run

    contenders = {"read unit": empty, "read unit + head check": head_check,
                  "decide, no check": decide(without), "decide + head check": decide(with_check)}
    best = {name: float("inf") for name in contenders}
    for _ in range(ROUNDS):
        for name, work in contenders.items():
            best[name] = min(best[name], best_per_call(work, calls))
    return list(best.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranges", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--postgres", default=None, help="a PostgreSQL server URL (a database is created there)")
    args = parser.parse_args()
    targets: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        targets.append(("SQLite", f"sqlite:///{tmp}/bench.db"))
        if args.postgres:
            from sqlalchemy import create_engine, text

            name = f"certgate_bench_{uuid.uuid4().hex[:8]}"
            admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            targets.append(("PostgreSQL", args.postgres.rsplit("/", 1)[0] + "/" + name))
        for label, url in targets:
            upgrade(url)
            db = Database(url)
            rows = measure(db, args.ranges, args.calls)
            db.dispose()
            base = dict(rows)
            print(f"\n{label}, {args.ranges:,} owned ranges, best of {ROUNDS} alternating rounds of {args.calls:,} calls")
            print(f"| {'step':<24} | {'µs per request':>14} |")
            print(f"|{'-' * 26}|{'-' * 16}:|")
            for name, seconds in rows:
                print(f"| {name:<24} | {seconds * 1e6:>14.1f} |")
            check = base["read unit + head check"] - base["read unit"]
            in_decide = base["decide + head check"] - base["decide, no check"]
            print(f"head check: +{check * 1e6:.1f} µs alone; +{in_decide * 1e6:.1f} µs in a decision "
                  f"({base['decide + head check'] / base['decide, no check']:.2f}x)")
        if args.postgres:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
