"""An immutable forest of IP prefixes in flat arrays: the base of the owned-range index.

CIDR blocks either nest or are disjoint, so sorted by (first address, prefix length) they are
the preorder of a forest. The deepest prefix holding an address is then an ancestor-or-self of
the last prefix starting at or before it: one bisection and a walk up `parents`, bounded by the
number of distinct prefix lengths. A bucket table over the high bits of the start addresses
narrows each bisection to a few steps.

Layout, chosen for a machine where a random memory access costs more than the arithmetic
around it: every column is indexed by preorder position; `spans[i]` packs first << width | last
so one bisection over it also yields the end of the range; `info[i]` packs the owner number
and prefix length. For IPv4 all columns are machine-word arrays (about 33 bytes a range); IPv6
spans stay Python ints in a list, which is fine for the smaller IPv6 set.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from itertools import islice
from operator import lt

ROW_BITS = 32
ROW_MAX = (1 << ROW_BITS) - 1


class DuplicateRangeId(ValueError):
    """A range id was registered twice."""


def sort_key(first: int, prefix_len: int, row: int) -> int:
    """Preorder key; among equal prefixes the lower row (smaller id) sorts last, i.e. deepest."""
    return ((first << 8 | prefix_len) << ROW_BITS) | (ROW_MAX - row)


class ForestColumns:
    """Rows gathered for a `PrefixForest`; `RangeIndex.build` appends to these directly."""

    def __init__(self) -> None:
        self.ids = array("q")
        self.owners = array("I")
        self.keys: list[int] = []

    def append(self, range_id: int, first: int, prefix_len: int, owner: int) -> None:
        """Add one row."""
        self.keys.append(sort_key(first, prefix_len, len(self.ids)))
        self.ids.append(range_id)
        self.owners.append(owner)


class PrefixForest:
    """One address family's ranges, immutable except for the `alive` flags."""

    def __init__(self, width: int, columns: ForestColumns) -> None:
        """Sort and index `columns` (consumed).

        Raises:
            DuplicateRangeId: two rows share an id.
        """
        keys, ids, owners = columns.keys, columns.ids, columns.owners
        columns.keys = []
        keys.sort()
        n = len(keys)
        self.width = width
        host = [(1 << (width - p)) - 1 for p in range(width + 1)]
        # After the sort the key objects lie scattered in memory: read them twice only, then
        # work on `prefixes`, fresh ints allocated in order (cheap to walk again).
        prefixes = [k >> ROW_BITS for k in keys]
        rows = array("i", [ROW_MAX - (k & ROW_MAX) for k in keys])
        del keys
        firsts = [p >> 8 for p in prefixes]
        lasts = [(p >> 8) | host[p & 255] for p in prefixes]
        self.parents = _parents(firsts, lasts)
        self._make_buckets(firsts)
        spans = [(f << width) | last for f, last in zip(firsts, lasts)]
        del firsts, lasts
        self.spans: list[int] | array[int] = array("Q", spans) if width == 32 else spans
        self.info = array("Q", [(owners[r] << 8) | (p & 255) for r, p in zip(rows, prefixes)])
        del prefixes
        self.ids = array("q", [ids[r] for r in rows])
        self.by_id = _positions_by_id(rows, ids)
        self.alive = bytearray(b"\x01") * n
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

    def deepest(self, value: int) -> int:
        """Preorder position of the most specific live range containing `value`, or -1."""
        offset = value - self.lo
        if offset < 0 or not self.ids:
            return -1
        b = offset >> self.shift
        if b > self.last_bucket:
            b = self.last_bucket
        buckets, spans, width = self.buckets, self.spans, self.width
        i = bisect_right(spans, ((value + 1) << width) - 1, buckets[b], buckets[b + 1]) - 1
        if i >= 0:
            last_mask = (1 << width) - 1
            parents = self.parents
            while i >= 0 and spans[i] & last_mask < value:
                i = parents[i]
        if self.dead:
            alive = self.alive
            while i >= 0 and not alive[i]:
                i = parents[i]
        return i

    def position_of(self, range_id: int) -> int:
        """Position of a live range id, or -1."""
        ids, by_id = self.ids, self.by_id
        k = bisect_left(by_id, range_id, key=ids.__getitem__)
        if k < len(by_id) and ids[by_id[k]] == range_id and self.alive[by_id[k]]:
            return by_id[k]
        return -1

    def first(self, position: int) -> int:
        """First address of the range at `position`."""
        return self.spans[position] >> self.width

    def live_rows(self) -> list[tuple[int, int, int, int]]:
        """(range id, first address, prefix length, owner number) of every live range."""
        width = self.width
        return [
            (range_id, span >> width, info & 255, info >> 8)
            for range_id, span, info, alive in zip(self.ids, self.spans, self.info, self.alive) if alive
        ]


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
    for a, b in zip(ordered, islice(ordered, 1, None)):
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
