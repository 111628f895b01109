"""Name-check benchmark: the owned-domain index and the whole DNS-name rule, beside the IP check.

    python bench/names.py [--domains 100000] [--probes 20000] [--skip-db]

Generates `--domains` random owned domains under real public suffixes (fixed seed) and as many
owned IPv4 ranges, and probes half owned, half foreign (one name in ten a wildcard). In one
process, in alternating rounds (best of five, the machine is shared), per name:
  plain set      - a Python set of the domains, probed at each label boundary (the floor)
  DomainIndex    - certgate's `policies.domains.DomainIndex.lookup` (owner and id too)
  name rule      - `policies.name_rules.dns_findings` for one name: syntax, internal classes,
                   the Public Suffix List match and the ownership lookup (what a request pays)
  IP check       - `policies.ownership.RangeIndex.lookup` over as many ranges, for scale
  linear scan    - `any(name == d or name.endswith('.' + d))` over the domains (200 probes only)
Memory: the growth of traced allocations (tracemalloc) when each structure is built alone.
Then (unless --skip-db) the service's path: the domains imported into a fresh SQLite database
with the use case, and a worker's `DomainRegistry` building its index from it.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from policies.addresses import parse_ip  # noqa: E402
from policies.domains import DomainIndex  # noqa: E402
from policies.name_rules import dns_findings  # noqa: E402
from policies.ownership import RangeIndex  # noqa: E402
from service.public_suffixes import load_public_suffixes  # noqa: E402

SUFFIXES = ["com", "net", "org", "de", "co.uk", "io", "fr", "nl", "com.au", "co.jp"]


def _label(rng: random.Random) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(rng.randint(4, 12)))


def generate(count: int, probes: int, seed: int = 13) -> tuple[list[str], list[str], list[tuple[int, str, str]], list[str]]:
    """Domains, probe names, IPv4 ranges and probe addresses (half of each owned)."""
    rng = random.Random(seed)
    domains = list({f"{_label(rng)}.{rng.choice(SUFFIXES)}": None for _ in range(count)})
    names = []
    for i in range(probes):
        if i % 2:
            host = ".".join(_label(rng) for _ in range(rng.randint(1, 3)))
            name = f"{host}.{rng.choice(domains)}"
        else:
            name = f"www.{_label(rng)}.{rng.choice(SUFFIXES)}"
        names.append("*." + name.split(".", 1)[1] if i % 10 == 3 else name)
    ranges = [(i + 1, f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.0/24", "o") for i in range(count)]
    ips = [f"{r[1].rsplit('.', 1)[0]}.{rng.randrange(256)}" if i % 2 else
           f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}"
           for i, r in enumerate(rng.choices(ranges, k=probes))]
    return domains, names, ranges, ips


def plain_lookup(domains: set[str]) -> Callable[[str], bool]:
    def lookup(name: str) -> bool:
        rest = name[2:] if name.startswith("*.") else name
        while True:
            if rest in domains:
                return True
            dot = rest.find(".")
            if dot < 0:
                return False
            rest = rest[dot + 1:]
    return lookup


def per_call_us(fn: Callable[[Any], Any], items: Sequence[Any]) -> float:
    start = time.perf_counter()
    for item in items:
        fn(item)
    return (time.perf_counter() - start) / len(items) * 1e6


def traced_mb(build: Callable[[], Any]) -> tuple[Any, float]:
    gc.collect()
    tracemalloc.start()
    built = build()
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return built, size / 1e6


def db_stage(domains: list[str]) -> dict[str, float]:
    from service.db.migrate import upgrade
    from service.db.session import Database
    from service.domain_registry import DomainRegistry
    from service.usecases.domains import import_domains, parse_domain_import

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'names.db'}"
        upgrade(url)
        db = Database(url)
        start = time.perf_counter()
        parsed = parse_domain_import((f"{d},bench\n" for d in domains), load_public_suffixes())
        checked = time.perf_counter() - start
        with db.write() as session:
            import_domains(session, parsed, actor="cli:bench", now=datetime.now(UTC))
        written = time.perf_counter() - start - checked
        registry = DomainRegistry(db)
        start = time.perf_counter()
        registry.refresh()
        build = time.perf_counter() - start
        db.dispose()
        return {"import_check_s": checked, "import_write_s": written, "registry_build_s": build}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=100_000)
    parser.add_argument("--probes", type=int, default=20_000)
    parser.add_argument("--skip-db", action="store_true")
    args = parser.parse_args()
    suffixes = load_public_suffixes()
    domains, names, ranges, ips = generate(args.domains, args.probes)
    plain_set, set_mb = traced_mb(lambda: set(domains))
    index, index_mb = traced_mb(lambda: DomainIndex((i + 1, d, "bench") for i, d in enumerate(domains)))
    ranges_index, ranges_mb = traced_mb(lambda: RangeIndex.build(ranges))
    parsed_ips = [parse_ip(ip) for ip in ips]
    plain = plain_lookup(plain_set)
    owned = sum(1 for n in names if index.covers(n))
    assert owned == sum(1 for n in names if plain(n)), "the index and the plain set disagree"
    contenders: dict[str, tuple[Callable[[Any], Any], Sequence[Any]]] = {
        "plain set": (plain, names),
        "DomainIndex": (index.lookup, names),
        "name rule": (lambda n: dns_findings((n,), index, suffixes), names),
        "IP check": (ranges_index.lookup, parsed_ips),
    }
    best = {name: float("inf") for name in contenders}
    for _ in range(5):
        for name, (fn, items) in contenders.items():
            best[name] = min(best[name], per_call_us(fn, items))
    linear = per_call_us(lambda n: any(n == d or n.endswith("." + d) for d in domains), names[:200])
    memory = {"plain set": set_mb, "DomainIndex": index_mb, "name rule": index_mb, "IP check": ranges_mb}
    print(f"{len(domains)} owned domains, {len(ranges)} owned /24s, {len(names)} probe names ({owned} owned),"
          f" PSL {len(suffixes)} rules")
    print(f"| {'check':<12} | {'µs per name':>11} | {'vs plain set':>12} | {'memory MB':>9} |")
    print(f"|{'-' * 14}|{'-' * 13}|{'-' * 14}|{'-' * 11}|")
    for name in contenders:
        print(f"| {name:<12} | {best[name]:>11.2f} | {best[name] / best['plain set']:>11.1f}x | {memory[name]:>9.1f} |")
    print(f"| {'linear scan':<12} | {linear:>11.0f} | {linear / best['plain set']:>11.0f}x | {'-':>9} |")
    if not args.skip_db:
        stage = db_stage(domains)
        print(f"service path: import check {stage['import_check_s']:.2f} s, write {stage['import_write_s']:.2f} s, "
              f"worker registry build {stage['registry_build_s']:.2f} s")


if __name__ == "__main__":
    main()
