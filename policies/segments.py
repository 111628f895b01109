"""One address family's ranges as flat, disjoint segments: the base of the owned-range index.

CIDR blocks either nest or are disjoint, so the deepest prefix holding an address only changes
at prefix boundaries. One stack sweep over the prefixes in preorder (first address, then length)
cuts the family's address space into at most 2n + 1 segments, each labelled with the answer
record of the range that wins there (id, owner number and prefix length in 64 bits). A lookup is
then one bisection over machine-word segment starts, narrowed by a table over the top 16 bits,
and one read of the record (`RangeIndex.lookup` inlines it): few memory touches, because on
this path cache misses cost more than the Python around them.

Everything lives in `array` columns, never in per-range Python objects, because memory per
worker is what limits this index: IPv4 starts are `array('I')`, IPv6 starts two `array('Q')`
halves. Rows (id, first address, tail = owner number << 8 | prefix length, enclosing row, alive
flag) are indexed by row number, for removals and compaction; `by_id` orders them by range id
when the input was not in id order.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from itertools import chain, compress, islice, repeat
from operator import and_, eq, lshift, lt, or_, rshift, sub

_M64 = (1 << 64) - 1
NO_RANGE = _M64  # the answer record of a segment that no range covers
_PLEN_BITS = {32: 6, 128: 8}  # bits of a sort key holding the prefix length
_TOP_BITS = 16  # the lookup table and the radix sort both use the top 16 address bits


class DuplicateRangeId(ValueError):
    """A range id was registered twice."""


class Columns:
    """Rows gathered for a `SegmentTable`; `RangeIndex.build` appends to these directly.

    Each row is an id and a tail (owner number << 8 | prefix length). IPv4 rows keep
    (first address << 6 | prefix length) in `heads`: already the high bits of the sort key.
    IPv6 rows keep the address halves in `heads` and `lows`. Columns start narrow (4-byte ids)
    and widen, once, when a value does not fit (`widen`).
    """

    def __init__(self, width: int) -> None:
        self.width = width
        self.ids = array("I")
        self.tails = array("I")
        self.heads = array("Q")
        self.lows = array("Q")

    def widen(self) -> None:
        """Make room for ids outside 0..2**32-1 or owner numbers past 2**24 (OverflowError)."""
        self.ids, self.tails = array("q", self.ids), array("Q", self.tails)

    def extend(self, ids: Sequence[int], tails: list[int], heads: Iterable[int], lows: Iterable[int] = ()) -> None:
        """Add rows in bulk (the C-loop paths of `range_rows`): IPv4 heads, or IPv6 halves."""
        count = len(self.ids)
        try:
            self.ids.extend(ids)
            self.tails.extend(tails)
        except OverflowError:
            del self.ids[count:], self.tails[count:]
            self.widen()
            self.ids.extend(ids)
            self.tails.extend(tails)
        self.heads.extend(heads)
        self.lows.extend(lows)

    def append(self, range_id: int, first: int, prefix_len: int, owner: int) -> None:
        """Add one row."""
        try:
            self.ids.append(range_id)
            self.tails.append(owner << 8 | prefix_len)
        except OverflowError:
            del self.ids[len(self.tails):]
            self.widen()
            self.append(range_id, first, prefix_len, owner)
            return
        if self.width == 32:
            self.heads.append(first << 6 | prefix_len)
        else:
            self.heads.append(first >> 64)
            self.lows.append(first & _M64)


class SegmentTable:
    """One family's ranges, immutable except for the `alive` flags (removals before a compaction)."""

    def __init__(self, columns: Columns) -> None:
        """Sort and segment `columns` (taken over: they are emptied).

        Raises:
            DuplicateRangeId: two rows share an id.
        """
        self.width = width = columns.width
        self.ids, self.tails, columns.ids, columns.tails = columns.ids, columns.tails, array("I"), array("I")
        n = len(self.ids)
        self.by_id = _order_by_id(self.ids)
        heads = columns.heads
        # Rows already in preorder (an import writes them in address order, so ids follow it)
        # need no sort keys and no sort: the row number is the position.
        presorted = width == 32 and self.by_id is None and all(map(lt, heads, islice(heads, 1, None)))
        preorder: Iterable[tuple[int, int]]
        if presorted:
            preorder = enumerate(heads)
        else:
            keys, rank_bits = _sort_keys(columns, self.tails, self.by_id)
            preorder = _ranked(keys, rank_bits, self.by_id)
        if width == 32:  # `firsts` serves compaction
            columns.heads = array("Q")
            self.firsts, self.lows = array("I", map(rshift, heads, repeat(6))), array("Q")
            if not presorted:  # the sweep reads the keys instead: let the heads go now
                heads = array("Q")
        else:
            self.firsts, self.lows, columns.heads, columns.lows = columns.heads, columns.lows, array("Q"), array("Q")
        self.alive = bytearray(b"\x01") * n
        self.dead = 0
        self.parents = array("i", [-1]) * n
        won = array("i", [-1])  # the winning row of each segment
        if width == 32:
            self.starts = array("I", [0])
            _sweep(preorder, width, self.parents, self.starts.append, won)
        else:
            self.starts, self.start_lows = his, los = array("Q", [0]), array("Q", [0])

            def add_start(point: int) -> None:
                his.append(point >> 64)
                los.append(point & _M64)

            _sweep(preorder, width, self.parents, add_start, won)
        del preorder, heads
        # An answer record packs (id, owner number, prefix length) into 64 bits, so that a lookup
        # touches one array after the bisection; rows stand in for ids too big to pack.
        if self.by_id is None and n:
            low_id, high_id = self.ids[0], self.ids[-1]
        else:
            low_id, high_id = min(self.ids, default=0), max(self.ids, default=0)
        self.owner_bits = max(1, max(self.tails, default=0).bit_length() - 8)
        self.id_shift = self.owner_bits + 8
        self.id_is_row = low_id < 0 or (high_id + 1) << self.id_shift >= NO_RANGE
        keys_of_rows = range(n) if self.id_is_row else self.ids
        records = array("Q", map(or_, map(lshift, keys_of_rows, repeat(self.id_shift)), self.tails))
        records.append(NO_RANGE)  # row -1 reads the last record: no range
        self.wins = array("Q", map(records.__getitem__, won))
        del records, won
        step = 1 << (width - _TOP_BITS if width == 32 else 64 - _TOP_BITS)
        self.buckets = array("I", map(partial(bisect_left, self.starts), range(0, step << _TOP_BITS, step)))
        self.buckets.append(len(self.starts))

    def __len__(self) -> int:
        return len(self.ids)

    def row(self, row: int) -> tuple[int, int, int, int]:
        """(range id, first address, prefix length, owner number) of a row."""
        first = self.firsts[row] if self.width == 32 else self.firsts[row] << 64 | self.lows[row]
        tail = self.tails[row]
        return self.ids[row], first, tail & 255, tail >> 8

    def record(self, row: int) -> int:
        """The answer record of a row."""
        key = row if self.id_is_row else self.ids[row]
        return key << self.id_shift | self.tails[row]

    def decode(self, record: int) -> tuple[int, int, int]:
        """(range id, owner number, prefix length) of an answer record."""
        key = record >> self.id_shift
        return self.ids[key] if self.id_is_row else key, record >> 8 & ((1 << self.owner_bits) - 1), record & 255

    def row_of(self, record: int) -> int:
        """The row of an answer record (dead rows included)."""
        key = record >> self.id_shift
        if self.id_is_row:
            return key
        ids, by_id = self.ids, self.by_id
        return bisect_left(ids, key) if by_id is None else by_id[bisect_left(by_id, key, key=ids.__getitem__)]

    def position_of(self, range_id: int) -> int:
        """Row number of a live range id, or -1."""
        ids, by_id = self.ids, self.by_id
        if by_id is None:
            row = bisect_left(ids, range_id)
        else:
            k = bisect_left(by_id, range_id, key=ids.__getitem__)
            row = by_id[k] if k < len(by_id) else len(ids)
        return row if row < len(ids) and ids[row] == range_id and self.alive[row] else -1

    def live_columns(self) -> Columns:
        """The live rows as fresh `Columns`, in id order, copied by C loops (for `compact`)."""
        columns = Columns(self.width)
        if self.ids.typecode != "I" or self.tails.typecode != "I":
            columns.widen()
        order = range(len(self.ids)) if self.by_id is None else self.by_id
        keep = list(map(self.alive.__getitem__, order))

        def live(column: array[int]) -> Iterator[int]:
            return compress(map(column.__getitem__, order), keep)

        columns.ids.extend(live(self.ids))
        columns.tails.extend(live(self.tails))
        if self.width == 32:
            plens = map(and_, live(self.tails), repeat(255))
            columns.heads.extend(map(or_, map(lshift, live(self.firsts), repeat(6)), plens))
        else:
            columns.heads.extend(live(self.firsts))
            columns.lows.extend(live(self.lows))
        return columns

    def live_rows(self) -> Iterator[tuple[int, int, int, int]]:
        """(range id, first address, prefix length, owner number) of every live range, by id."""
        alive = self.alive
        for row in range(len(self.ids)) if self.by_id is None else self.by_id:
            if alive[row]:
                yield self.row(row)


def _sort_keys(columns: Columns, tails: array[int], by_id: array[int] | None) -> tuple[array[int] | list[int], int]:
    """Preorder sort keys: first address, length, then descending id (the smallest id sorts
    deepest, so equal CIDRs chain from the smallest id up).

    The low `rank_bits` hold the row's rank by id. IPv4 keys fit 64 bits: they go into an
    `array`, made by C loops when rows came in id order, not a list of a million Python ints.
    """
    n, width = len(columns.heads), columns.width
    rank_bits = max(1, n.bit_length())
    top = (1 << rank_bits) - 1
    heads, lows = columns.heads, columns.lows
    keys: Iterable[int]
    if width == 32 and by_id is None:
        keys = map(or_, map(lshift, heads, repeat(rank_bits)), range(top, top - n, -1))
    elif width == 32 and by_id is not None:
        keys = (heads[r] << rank_bits | top - k for k, r in enumerate(by_id))
    else:
        rows = range(n) if by_id is None else by_id
        keys = (((heads[r] << 64 | lows[r]) << 8 | tails[r] & 255) << rank_bits | top - k for k, r in enumerate(rows))
    if width + _PLEN_BITS[width] + rank_bits <= 64:
        return array("Q", keys), rank_bits
    return list(keys), rank_bits


def _ranked(keys: array[int] | list[int], rank_bits: int, by_id: array[int] | None) -> Iterator[tuple[int, int]]:
    """(row, first address << plen bits | prefix length) in preorder, from sort keys (sorted here).

    The rank and the shift are taken off by C loops, a sorted chunk at a time, and the chunks
    are chained in C too, so that no Python frame runs per key outside the sweep's loop.
    """
    return chain.from_iterable(map(partial(_ranked_chunk, (1 << rank_bits) - 1, rank_bits, by_id), _sorted_chunks(keys)))


def _ranked_chunk(top_rank: int, rank_bits: int, by_id: array[int] | None, chunk: list[int]) -> Iterator[tuple[int, int]]:
    rows: Iterable[int] = map(sub, repeat(top_rank), map(and_, chunk, repeat(top_rank)))
    if by_id is not None:
        rows = map(by_id.__getitem__, rows)
    return zip(rows, map(rshift, chunk, repeat(rank_bits)))  # noqa: B905


def _sweep(preorder: Iterable[tuple[int, int]], width: int, parents: array[int],
           add_start: Callable[[int], object], won: array[int]) -> None:
    """Cut the address space into segments won by the deepest row; fill `parents`.

    `preorder` gives (row, first address << plen bits | prefix length) by first address, then
    length. The build's bottleneck (a million iterations), so the loop does the least it can.
    Several boundaries can fall on one address; the last one (the deepest) wins there.
    """
    plen_bits = _PLEN_BITS[width]
    plen_mask, end = (1 << plen_bits) - 1, 1 << width
    host = [(1 << (width - p)) - 1 for p in range(width + 1)]
    stack: list[tuple[int, int]] = [(end, -1)]  # (last address, row); the sentinel never closes
    push, pop, add_won = stack.append, stack.pop, won.append
    top_last, top_row, prev = end, -1, 0  # prev: where the newest segment starts
    for row, key in preorder:
        first = key >> plen_bits
        while top_last < first:  # close the prefixes that end before this one
            point = top_last + 1
            pop()
            top_last, top_row = stack[-1]
            if point == prev:
                won[-1] = top_row
            else:
                add_start(point)
                add_won(top_row)
                prev = point
        parents[row] = top_row
        if first == prev:
            won[-1] = row
        else:
            add_start(first)
            add_won(row)
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
            won[-1] = top_row
        else:
            add_start(point)
            add_won(top_row)
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


def _sorted_chunks(keys: array[int] | list[int]) -> Iterator[list[int]]:
    """The keys in ascending order, as consecutive sorted lists.

    A list is sorted whole. An array is dealt into parts of about 128k keys between splitters
    drawn from a sample (so skewed data splits evenly too), and the parts are sorted one at a
    time: only one part at a time becomes Python ints, so the build's peak memory stays near
    the size of the arrays (one big `sorted` would add ~48 bytes a key).
    """
    if isinstance(keys, list):
        keys.sort()
        yield keys
        return
    parts = min(255, len(keys) >> 17) + 1
    if parts == 1:
        yield sorted(keys)
        return
    sample = sorted(keys[:: max(1, len(keys) // (64 * parts))])
    splitters = [sample[len(sample) * k // parts] for k in range(1, parts)]
    pieces = [array("Q") for _ in range(parts)]
    appends = [piece.append for piece in pieces]
    for key, part in zip(keys, map(partial(bisect_right, splitters), keys), strict=True):
        appends[part](key)
    del keys[:]  # the caller's array: its memory is now in the pieces
    for k in range(parts):
        piece, pieces[k] = pieces[k], array("Q")
        yield sorted(piece)
