"""One address family's ranges as flat, disjoint segments: the base of the owned-range index.

CIDR blocks either nest or are disjoint, so the deepest prefix holding an address only changes
at prefix boundaries. One stack sweep over the prefixes in preorder (first address, then length)
cuts the family's address space into at most 2n + 1 segments, each labelled with the row that
wins there (or -1). A lookup is then one bisection over machine-word segment starts, narrowed by
a table over the top 16 bits, and a few array reads (`RangeIndex.lookup` inlines it).

Everything lives in `array` columns, never in per-range Python objects, because memory per
worker is what limits this index: IPv4 starts are `array('I')`, IPv6 starts two `array('Q')`
halves. Rows (id, first address, prefix length, owner number, enclosing row, alive flag) are
indexed by row number; `by_id` orders them by range id when the input was not in id order.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterator
from itertools import accumulate, islice, repeat
from operator import eq, lt, rshift

_M64 = (1 << 64) - 1
_PLEN_BITS = {32: 6, 128: 8}  # bits of a sort key holding the prefix length
_TOP_BITS = 16  # the lookup table and the radix sort both use the top 16 address bits


class DuplicateRangeId(ValueError):
    """A range id was registered twice."""


class Columns:
    """Rows gathered for a `SegmentTable`; `RangeIndex.build` appends to these directly."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.ids = array("q")
        self.plens = array("B")
        self.owners = array("I")
        self.firsts = array("I")  # IPv4 addresses; IPv6 uses `firsts` (high half) and `lows`
        self.lows = array("Q")
        if width == 128:
            self.firsts = array("Q")

    def append(self, range_id: int, first: int, prefix_len: int, owner: int) -> None:
        """Add one row."""
        self.ids.append(range_id)
        self.plens.append(prefix_len)
        self.owners.append(owner)
        if self.width == 32:
            self.firsts.append(first)
        else:
            self.firsts.append(first >> 64)
            self.lows.append(first & _M64)


class SegmentTable(Columns):
    """One family's ranges, immutable except for the `alive` flags (removals before a compaction)."""

    def __init__(self, columns: Columns) -> None:
        """Sort and segment `columns` (taken over, not copied).

        Raises:
            DuplicateRangeId: two rows share an id.
        """
        self.width, self.ids, self.plens = columns.width, columns.ids, columns.plens
        self.owners, self.firsts, self.lows = columns.owners, columns.firsts, columns.lows
        n = len(self.ids)
        self.by_id = _order_by_id(self.ids)
        self.alive = bytearray(b"\x01") * n
        self.dead = 0
        self.parents = array("i", [-1]) * n
        self.wins = array("i", [-1])
        if self.width == 32:
            self.starts = array("I", [0])
            self._sweep(self.starts.append)
            self.buckets = _bucket_table(self.starts, 16)
        else:
            self.starts, self.start_lows = array("Q", [0]), array("Q", [0])
            his, los = self.starts.append, self.start_lows.append
            self._sweep(lambda p: (his(p >> 64), los(p & _M64)))
            self.buckets = _bucket_table(self.starts, 48)

    def __len__(self) -> int:
        return len(self.ids)

    def first(self, row: int) -> int:
        """The first address of a row's prefix."""
        return self.firsts[row] if self.width == 32 else self.firsts[row] << 64 | self.lows[row]

    def position_of(self, range_id: int) -> int:
        """Row number of a live range id, or -1."""
        ids, by_id = self.ids, self.by_id
        if by_id is None:
            row = bisect_left(ids, range_id)
        else:
            k = bisect_left(by_id, range_id, key=ids.__getitem__)
            row = by_id[k] if k < len(by_id) else len(ids)
        return row if row < len(ids) and ids[row] == range_id and self.alive[row] else -1

    def live_rows(self) -> Iterator[tuple[int, int, int, int]]:
        """(range id, first address, prefix length, owner number) of every live range, by id."""
        alive, ids, plens, owners = self.alive, self.ids, self.plens, self.owners
        for row in range(len(ids)) if self.by_id is None else self.by_id:
            if alive[row]:
                yield ids[row], self.first(row), plens[row], owners[row]

    def _keys(self) -> tuple[array[int] | list[int], int]:
        """Preorder sort keys (first, length, then descending id: the smallest id sorts deepest).

        The low `rank_bits` hold the row's rank by id, so equal CIDRs chain from the smallest id
        up. IPv4 keys fit 64 bits and go into an `array`, not a list of a million Python ints.
        """
        n, plen_bits = len(self.ids), _PLEN_BITS[self.width]
        rank_bits = max(1, n.bit_length())
        top = (1 << rank_bits) - 1
        rows = range(n) if self.by_id is None else self.by_id
        plens, firsts, lows = self.plens, self.firsts, self.lows
        if self.width == 32:
            keys = ((firsts[r] << plen_bits | plens[r]) << rank_bits | top - k for k, r in enumerate(rows))
        else:
            keys = (((firsts[r] << 64 | lows[r]) << plen_bits | plens[r]) << rank_bits | top - k
                    for k, r in enumerate(rows))
        if self.width + plen_bits + rank_bits <= 64:
            return array("Q", keys), rank_bits
        return list(keys), rank_bits

    def _sweep(self, add_start: object) -> None:
        """Cut the address space into segments won by the deepest live row; fill `parents`."""
        keys, rank_bits = self._keys()
        width, plen_bits, by_id = self.width, _PLEN_BITS[self.width], self.by_id
        chunks = _sorted_chunks(keys, width + plen_bits + rank_bits - _TOP_BITS)
        del keys  # the sort frees it once distributed
        top_rank, plen_mask = (1 << rank_bits) - 1, (1 << plen_bits) - 1
        host = [(1 << (width - p)) - 1 for p in range(width + 1)]
        parents, wins, end = self.parents, self.wins, 1 << width
        append_win = wins.append
        stack: list[tuple[int, int]] = [(end, -1)]  # (last address, row); the sentinel never closes
        push, pop = stack.append, stack.pop
        top_last, top_row, prev = end, -1, 0  # prev: where the newest segment starts
        for chunk in chunks:
            for key in chunk:
                rank = top_rank - (key & top_rank)
                row = rank if by_id is None else by_id[rank]
                key >>= rank_bits
                first = key >> plen_bits
                while top_last < first:  # close the prefixes that end before this one
                    point = top_last + 1
                    pop()
                    top_last, top_row = stack[-1]
                    if point == prev:
                        wins[-1] = top_row
                    else:
                        add_start(point)  # type: ignore[operator]
                        append_win(top_row)
                        prev = point
                parents[row] = top_row
                if first == prev:
                    wins[-1] = row
                else:
                    add_start(first)  # type: ignore[operator]
                    append_win(row)
                    prev = first
                top_last, top_row = first | host[key & plen_mask], row
                push((top_last, row))
        while len(stack) > 1:
            point = top_last + 1
            pop()
            top_last, top_row = stack[-1]
            if point >= end:
                continue
            if point == prev:
                wins[-1] = top_row
            else:
                add_start(point)  # type: ignore[operator]
                append_win(top_row)
                prev = point


def _order_by_id(ids: array[int]) -> array[int] | None:
    """None when rows are in ascending id order (the usual case: rows come by primary key),
    else the rows ordered by id.

    Raises:
        DuplicateRangeId: two rows share an id.
    """
    if all(map(lt, ids, islice(ids, 1, None))):
        return None
    order = array("i", sorted(range(len(ids)), key=ids.__getitem__))
    ordered = [ids[r] for r in order]
    if any(map(eq, ordered, islice(ordered, 1, None))):
        duplicate = next(a for a, b in zip(ordered, islice(ordered, 1, None)) if a == b)  # noqa: B905
        raise DuplicateRangeId(f"range id {duplicate} appears twice")
    return order


def _sorted_chunks(keys: array[int] | list[int], shift: int) -> Iterator[list[int]]:
    """The keys in ascending order, as consecutive sorted lists.

    A list is sorted whole; an array is first distributed by its top bits (a counting sort),
    so that only one small bucket at a time becomes Python ints: the build's peak memory stays
    near the size of the arrays.
    """
    if isinstance(keys, list):
        keys.sort()
        yield keys
        return
    counts = Counter(map(rshift, keys, repeat(shift)))
    buckets = sorted(counts)
    offsets = dict(zip(buckets, accumulate((counts[b] for b in buckets), initial=0), strict=False))
    ends = [offsets[b] + counts[b] for b in buckets]
    placed = array("Q", bytes(8 * len(keys)))
    for key in keys:
        bucket = key >> shift
        placed[offsets[bucket]] = key
        offsets[bucket] += 1
    del keys
    start = 0
    for stop in ends:
        yield sorted(placed[start:stop])
        start = stop


def _bucket_table(starts: array[int], shift: int) -> array[int]:
    """table[b]: the first segment whose start is at or after b << shift (top 16 bits = b)."""
    table = array("I", [bisect_left(starts, b << shift) for b in range(1 << _TOP_BITS)])
    table.append(len(starts))
    return table
