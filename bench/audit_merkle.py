"""Times the audit log's Merkle tree and whole-log check: `python bench/audit_merkle.py`."""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service.audit.canonical import event_leaf_hash  # noqa: E402
from service.audit.integrity import EntryRecord, StoredHead, check_log  # noqa: E402
from service.audit.merkle import MerkleFrontier, MerkleTree, root_hash  # noqa: E402
from service.audit.treehead import TreeHead, generate_log_key, sign_tree_head  # noqa: E402

T = TypeVar("T")


def timed(label: str, action: Callable[[], T]) -> T:
    start = time.perf_counter()
    result = action()
    print(f"{label:<55} {time.perf_counter() - start:8.3f} s")
    return result


def main() -> None:
    for n in (100_000, 1_000_000):
        leaves = [hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(n)]
        timed(f"root_hash over {n:,} leaves", lambda: root_hash(leaves))
        tree = timed(f"MerkleTree({n:,} leaves) bulk build", lambda: MerkleTree(leaves))

        def grow() -> MerkleTree:
            grown = MerkleTree()
            for leaf in leaves:
                grown.append(leaf)
            return grown

        timed(f"MerkleTree.append x {n:,}", grow)

        def stream() -> bytes:
            frontier = MerkleFrontier()
            for leaf in leaves:
                frontier.append(leaf)
            return frontier.root()

        timed(f"MerkleFrontier.append x {n:,} + root", stream)
        timed(f"1,000 inclusion proofs at size {n:,}",
              lambda: [tree.inclusion_proof(i * (n // 1000), n) for i in range(1000)])
        timed(f"1,000 consistency proofs to size {n:,}",
              lambda: [tree.consistency_proof(i * (n // 1000) + 1, n) for i in range(1000)])

    n = 100_000
    key = generate_log_key()
    start = datetime(2026, 3, 15, tzinfo=UTC)

    def build_entries() -> list[EntryRecord]:
        out = []
        for i in range(n):
            fields = dict(index=i, event="request:submitted", actor=f"user{i % 50}",
                          at=start + timedelta(milliseconds=i), subject=f"request:{i}",
                          data={"ips": ["192.0.2.1", "2001:db8::1"], "validity_days": 90,
                                "policy_version": "a" * 64})
            out.append(EntryRecord(leaf_hash=event_leaf_hash(**fields).hex(), **fields))  # type: ignore[arg-type]
        return out

    entries = timed(f"build {n:,} entries (canonical bytes + leaf hash)", build_entries)
    tree = MerkleTree(bytes.fromhex(e.leaf_hash) for e in entries)
    heads = []
    for size in range(1000, n + 1, 1000):  # a signed head every 1,000 entries: 100 heads
        head = TreeHead(size, tree.root(size), start + timedelta(seconds=size))
        heads.append(StoredHead(size, head.root_hash.hex(), head.timestamp, sign_tree_head(key, head)))
    result = timed(f"check_log over {n:,} entries, {len(heads)} signed heads",
                   lambda: check_log(entries, heads, key.public_key()))
    print(result)


if __name__ == "__main__":
    main()
