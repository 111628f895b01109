"""Whole-log verification for `certgate audit verify`: rows, indexes and signed heads agree.

Three layers, each catching what the one before cannot:

1. every row's leaf hash is recomputed from its fields: an edited field shows at that row;
2. indexes must run 0, 1, 2, ... in the order given: a deleted, inserted, duplicated or
   reordered row shows where the run breaks (the index is inside the hashed bytes, so moving a
   row means editing it);
3. the Merkle root at every signed tree head's size must equal the signed root, under a valid
   log-key signature: someone who edits a row *and* rewrites its leaf hash (or renumbers rows
   and rehashes them all) changes that root, and cannot re-sign it without the log key.

Rows after the newest signed head are protected by layers 1 and 2 only, so `LogCheck` reports
how far signed heads reach. The check streams: entries may be a lazy query of a million rows,
memory stays O(log n).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from service.audit.canonical import event_leaf_hash, rfc3339_utc
from service.audit.merkle import MerkleFrontier
from service.audit.treehead import TreeHead, verify_tree_head


@dataclass(frozen=True)
class EntryRecord:
    """One audit row as stored: its fields and the leaf hash (hex) written beside them."""

    index: int
    event: str
    actor: str
    at: datetime
    subject: str
    data: Mapping[str, Any]
    leaf_hash: str


@dataclass(frozen=True)
class StoredHead:
    """One signed tree head as stored: root as hex, signature as DER bytes."""

    tree_size: int
    root_hash: str
    timestamp: datetime
    signature: bytes


@dataclass(frozen=True)
class LogCheck:
    """The verdict on a whole log.

    `first_bad_index` names the first entry not to be trusted; it is None when the log is
    intact or when the fault is a signed head itself (a bad signature, a malformed head).
    `signed_tree_size` is the largest size vouched for by a verified signed head.
    """

    ok: bool
    tree_size: int
    first_bad_index: int | None = None
    problem: str | None = None
    signed_tree_size: int = 0


class _Broken(Exception):
    """Internal: the first fault found, carried out of the scan."""

    def __init__(self, first_bad_index: int | None, problem: str) -> None:
        super().__init__(problem)
        self.first_bad_index = first_bad_index
        self.problem = problem


def check_log(
    entries: Iterable[EntryRecord],
    stored_heads: Iterable[StoredHead],
    public_key: ec.EllipticCurvePublicKey,
) -> LogCheck:
    """Verify the log: `entries` in index order, every signed head, against the log key.

    Stops at the first fault, but still counts the remaining entries for `tree_size`.
    Faults are answered in the `LogCheck`; this function raises nothing for bad data.
    """
    heads = sorted(stored_heads, key=lambda h: (h.tree_size, h.timestamp))
    frontier = MerkleFrontier()
    state = _HeadCursor(heads, public_key)
    iterator = iter(entries)
    taken = 0
    try:
        state.check_heads_at(frontier)
        for entry in iterator:
            taken += 1
            _check_entry(entry, frontier.size)
            frontier.append(bytes.fromhex(entry.leaf_hash))
            state.check_heads_at(frontier)
        state.check_none_beyond(frontier.size)
    except _Broken as fault:
        return LogCheck(
            ok=False,
            tree_size=taken + sum(1 for _ in iterator),
            first_bad_index=fault.first_bad_index,
            problem=fault.problem,
            signed_tree_size=state.signed_size,
        )
    return LogCheck(ok=True, tree_size=frontier.size, signed_tree_size=state.signed_size)


def _check_entry(entry: EntryRecord, expected: int) -> None:
    """Index continuity first (a gap explains a hash mismatch), then the row's own hash."""
    if entry.index != expected:
        if entry.index > expected:
            raise _Broken(
                expected,
                f"entry {expected} is missing: the next entry has index {entry.index} "
                "(deleted or reordered)",
            )
        raise _Broken(
            entry.index,
            f"index {entry.index} appears again at position {expected}: "
            "a duplicated, inserted or reordered entry",
        )
    try:
        computed = event_leaf_hash(
            entry.index, entry.event, entry.actor, entry.at, entry.subject, entry.data
        )
    except ValueError as exc:
        raise _Broken(expected, f"entry {expected} cannot be serialised: {exc}") from exc
    try:
        stored = bytes.fromhex(entry.leaf_hash)
    except (ValueError, TypeError):
        stored = b""
    if stored != computed:
        raise _Broken(
            expected,
            f"entry {expected} does not match its leaf hash: its fields were edited "
            f"(stored {entry.leaf_hash!r}, computed {computed.hex()})",
        )


class _HeadCursor:
    """Walks the signed heads (sorted by size) as the tree grows past each of their sizes."""

    def __init__(self, heads: list[StoredHead], public_key: ec.EllipticCurvePublicKey) -> None:
        self._heads = heads
        self._next = 0
        self._public_key = public_key
        self.signed_size = 0

    def check_heads_at(self, frontier: MerkleFrontier) -> None:
        """Check every head whose size is the tree's current size."""
        root: bytes | None = None
        while self._next < len(self._heads) and self._heads[self._next].tree_size <= frontier.size:
            stored = self._heads[self._next]
            head = self._parse(stored)
            if head.tree_size == frontier.size:
                root = frontier.root() if root is None else root
                if head.root_hash != root:
                    raise _Broken(
                        self.signed_size,
                        f"the first {head.tree_size} entries do not hash to the root signed at "
                        f"{rfc3339_utc(head.timestamp)}: an entry from index {self.signed_size} "
                        f"to {head.tree_size - 1} was altered and its leaf hash recomputed",
                    )
                self.signed_size = head.tree_size
            self._next += 1

    def check_none_beyond(self, size: int) -> None:
        """A signed head larger than the log means signed entries were removed from its end."""
        if self._next < len(self._heads):
            stored = self._heads[self._next]
            self._parse(stored)
            raise _Broken(
                size,
                f"a signed tree head covers {stored.tree_size} entries but the log has {size}: "
                f"entries from index {size} were deleted",
            )

    def _parse(self, stored: StoredHead) -> TreeHead:
        """The head, once its form and signature are good."""
        try:
            head = TreeHead(stored.tree_size, bytes.fromhex(stored.root_hash), stored.timestamp)
        except (ValueError, TypeError) as exc:
            raise _Broken(
                None, f"a stored tree head of size {stored.tree_size} is malformed: {exc}"
            ) from exc
        if not verify_tree_head(self._public_key, head, stored.signature):
            raise _Broken(
                None,
                f"the tree head of size {head.tree_size} at {rfc3339_utc(head.timestamp)} "
                "does not carry a valid log-key signature",
            )
        return head
