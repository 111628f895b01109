"""An immutable forest of IP prefixes in flat arrays: the base of the owned-range index.

CIDR blocks either nest or are disjoint, so sorted by (first address, prefix length) they are
the preorder of a forest. The deepest prefix holding an address is then an ancestor-or-self of
the last prefix starting at or before it: one bisection and a walk up `parents`, bounded by the
number of distinct prefix lengths. A bucket table over the high bits of the start addresses
narrows each bisection to a few steps. (The search itself is inlined in `RangeIndex.lookup`,
the hot path.)

Layout, chosen because random memory access, not arithmetic, is what costs here: every column
is indexed by preorder position (`firsts`, `lasts`, `parents`, `ids`, `info` = owner number and
prefix length, `alive`), plus `by_id` to find a range id by bisection. For IPv4 all columns are
machine-word arrays (about 33 bytes a range); IPv6 addresses stay Python ints in lists, which is
fine for the smaller IPv6 set.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from itertools import islice
from operator import eq, lt

ROW_BITS = 32
ROW_MAX = (1 << ROW_BITS) - 1


class DuplicateRangeId(ValueError):
    """A range id was registered twice."""


def sort_key(first: int, prefix_len: int, row: int) -> int:
    """Preorder key; among equal prefixes the lower row (smaller id) sorts last, i.e. deepest."""
    return ((first << 8 | prefix_len) << ROW_BITS) | (ROW_MAX - row)


class ForestColumns:
    """Rows gathered for a `PrefixForest`; `RangeIndex.build` appends to these directly.

    Sort keys are dealt into buckets by the top 8 bits of an IPv4 address while rows arrive
    (IPv6 uses one bucket): sorting many small lists touches memory far less than one big sort.
    """

    def __init__(self, width: int) -> None:
        self.width = width
        self.bucket_shift = 24 if width == 32 else width
        self.buckets: list[list[int]] = [[] for _ in range(1 << (width - self.bucket_shift))]
        self.ids = array("q")
        self.owners = array("I")

    def append(self, range_id: int, first: int, prefix_len: int, owner: int) -> None:
        """Add one row."""
        self.buckets[first >> self.bucket_shift].append(sort_key(first, prefix_len, len(self.ids)))
        self.ids.append(range_id)
        self.owners.append(owner)


class PrefixForest:
    """One address family's ranges, immutable except for the `alive` flags."""

    def __init__(self, columns: ForestColumns) -> None:
        """Sort and index `columns` (consumed).

        Raises:
            DuplicateRangeId: two rows share an id.
        """
        width, ids, owners = columns.width, columns.ids, columns.owners
        self.width = width
        prefixes: list[int] = []
        rows = array("i")
        for bucket in columns.buckets:
            if bucket:
                bucket.sort()  # the bucket is now in cache: read it at once
                prefixes += [k >> ROW_BITS for k in bucket]
                rows.extend([ROW_MAX - (k & ROW_MAX) for k in bucket])
        columns.buckets = []
        if any(map(eq, prefixes, islice(prefixes, 1, None))) and not all(map(lt, ids, islice(ids, 1, None))):
            _smallest_id_deepest(prefixes, rows, ids)
        host = [(1 << (width - p)) - 1 for p in range(width + 1)]
        firsts = [p >> 8 for p in prefixes]
        lasts = [(p >> 8) | host[p & 255] for p in prefixes]
        self.parents = _parents(firsts, lasts)
        self._make_buckets(firsts)
        # IPv4 fits machine words; IPv6 values stay Python ints.
        self.firsts: list[int] | array[int] = array("I", firsts) if width == 32 else firsts
        self.lasts: list[int] | array[int] = array("I", lasts) if width == 32 else lasts
        del firsts, lasts
        self.info = array("Q", [(owners[r] << 8) | (p & 255) for r, p in zip(rows, prefixes, strict=True)])
        del prefixes
        self.ids = array("q", [ids[r] for r in rows])
        self.by_id = _positions_by_id(rows, ids)
        self.alive = bytearray(b"\x01") * len(rows)
        self.size = len(rows)
        self.dead = 0

    def __len__(self) -> int:
        return len(self.ids)

    def _make_buckets(self, firsts: list[int]) -> None:
        """buckets[b]: first position whose start is at or after lo + (b << shift)."""
        n = len(firsts)
        self.lo = firsts[0] if n else 0
        span = (firsts[-1] - self.lo) if n else 0
        bits = min(16, max(4, n.bit_length() - 3))
        self.shift = max(0, span.bit_length() - bits)
        count = (span >> self.shift) + 1
        self.buckets = array("i", [bisect_left(firsts, self.lo + (b << self.shift)) for b in range(count)] + [n])
        self.last_bucket = count - 1

    def position_of(self, range_id: int) -> int:
        """Position of a live range id, or -1."""
        ids, by_id = self.ids, self.by_id
        k = bisect_left(by_id, range_id, key=ids.__getitem__)
        if k < len(by_id) and ids[by_id[k]] == range_id and self.alive[by_id[k]]:
            return by_id[k]
        return -1


    def live_rows(self) -> list[tuple[int, int, int, int]]:
        """(range id, first address, prefix length, owner number) of every live range."""
        return [
            (range_id, first, info & 255, info >> 8)
            for range_id, first, info, alive in zip(self.ids, self.firsts, self.info, self.alive, strict=True) if alive
        ]


def _smallest_id_deepest(prefixes: list[int], rows: array[int], ids: array[int]) -> None:
    """Reorder each run of equal prefixes by descending id (keys ordered them by row)."""
    start = 0
    for k in range(1, len(prefixes) + 1):
        if k == len(prefixes) or prefixes[k] != prefixes[start]:
            if k - start > 1:
                rows[start:k] = array("i", sorted(rows[start:k], key=ids.__getitem__, reverse=True))
            start = k


def _positions_by_id(rows: array[int], ids: array[int]) -> array[int]:
    """Positions ordered by range id, for `position_of`; rows usually arrive in id order.

    Raises:
        DuplicateRangeId: two rows share an id.
    """
    position_of_row = array("i", bytes(4 * len(rows)))
    for position, row in enumerate(rows):
        position_of_row[row] = position
    if all(map(lt, ids, islice(ids, 1, None))):  # ascending ids: nothing to sort or check
        return position_of_row
    ordered = sorted(range(len(ids)), key=ids.__getitem__)
    for a, b in zip(ordered, islice(ordered, 1, None)):  # noqa: B905 (pairs)
        if ids[a] == ids[b]:
            raise DuplicateRangeId(f"range id {ids[a]} appears twice")
    return array("i", [position_of_row[row] for row in ordered])


def _parents(firsts: list[int], lasts: list[int]) -> array[int]:
    """Enclosing range of each range in preorder (a stack walk; CIDRs nest or are disjoint)."""
    parents = array("i", [-1]) * len(firsts)
    stack = [-1]  # sentinel: the root of the forest
    push, pop = stack.append, stack.pop
    top, top_last = -1, -1
    for i, first in enumerate(firsts):
        while top_last < first and top >= 0:
            pop()
            top = stack[-1]
            top_last = lasts[top] if top >= 0 else -1
        parents[i] = top
        push(i)
        top, top_last = i, lasts[i]
    return parents
