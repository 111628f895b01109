"""The owned-range index: which registered range most specifically covers an address.

Per address family, an immutable `SegmentTable` (disjoint segments in flat arrays, see that
module) holds the bulk of the ranges, so that a lookup is one bisection; recent changes live in
a small overlay: added ranges in one dict per prefix length (a lookup probes only the lengths
present), removed base ranges masked in the table's `alive` flags (the enclosing row answers
instead). When the overlay grows past a sixteenth of the index, everything is rebuilt
(`compact`), so a change costs O(1) and the rebuild is amortised. A family without pending
changes takes the fast path of `lookup`; one with pending changes consults both.

Overlapping ranges are allowed; the longest prefix wins, and among equal CIDRs registered more
than once the smallest range id answers (the oldest row, with database ids).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from policies import cidr as _cidr
from policies.addresses import IpAddress
from policies.cidr import Cidr, InvalidCidr, format_prefix, parse_address, parse_cidr
from policies.range_rows import OwnerNumbers, load_rows, load_stored_rows
from policies.segments import NO_RANGE, Columns, DuplicateRangeId, SegmentTable

__all__ = ["Cidr", "InvalidCidr", "parse_cidr", "RangeIndex", "RangeMatch", "UnknownRange", "DuplicateRangeId"]

_WIDTH = {4: 32, 6: 128}
_MASK4 = [((1 << 32) - 1) ^ ((1 << (32 - p)) - 1) for p in range(33)]
_MASK6 = [((1 << 128) - 1) ^ ((1 << (128 - p)) - 1) for p in range(129)]
_M64 = (1 << 64) - 1
_from_bytes = int.from_bytes
_bisect_left, _bisect_right = bisect_left, bisect_right
# The parser's internals, borrowed for the inlined IPv4 paths of `build` and `lookup`.
_inet_pton, _AF_INET, _AF_INET6, _GUARD_ZEROS = _cidr._inet_pton, _cidr._AF_INET, _cidr._AF_INET6, _cidr._GUARD_ZEROS
_new_match = tuple.__new__  # skips NamedTuple's Python-level __new__ on the lookup path
_MIN_MERGE = 4096
_NO_RANGE = NO_RANGE
_EMPTY = {4: SegmentTable(Columns(32)), 6: SegmentTable(Columns(128))}


class UnknownRange(KeyError):
    """`remove` was given a range id that the index does not hold."""


class RangeMatch(NamedTuple):
    """The answer of a lookup; `cidr` text is rendered only when asked for (it costs ~1 µs).

    A NamedTuple rather than a frozen dataclass: it is as immutable and twice as cheap to make,
    which matters on a path measured in microseconds.
    """

    range_id: int
    owner: str
    version: int
    first: int
    prefix_len: int

    @property
    def cidr(self) -> str:
        """The matched range in canonical CIDR text."""
        return format_prefix(self.version, self.first, self.prefix_len)


class RangeIndex:
    """Owned ranges (id, CIDR, owner) answering the most specific range for an address."""

    def __init__(self) -> None:
        self._owner_names: list[str] = []
        self._owner_index = OwnerNumbers(self._owner_names)
        self._base = {4: _EMPTY[4], 6: _EMPTY[6]}  # shared: a table without rows never changes
        # overlay: family -> prefix length -> (network >> host bits) -> range ids
        self._overlay: dict[int, dict[int, dict[int, list[int]]]] = {4: {}, 6: {}}
        self._overlay_lens: dict[int, list[int]] = {4: [], 6: []}
        self._overlay_rows: dict[int, tuple[int, int, int, int]] = {}  # id -> version, first, plen, owner
        self._merge_at = _MIN_MERGE
        # The IPv4 lookup's columns, None while changes are pending (then the slow path answers).
        self._fast4: tuple[array[int], array[int], array[int], int, int, list[str]] | None = None
        self._refresh_fast()

    @classmethod
    def build(cls, rows: Iterable[tuple[int, str | Cidr, str]]) -> RangeIndex:
        """Index (range id, CIDR, owner) rows, streamed (an iterator is not held in memory).

        Fastest when rows come in ascending id order (by primary key).

        Raises:
            InvalidCidr: a CIDR is malformed or has host bits set.
            DuplicateRangeId: two rows share an id.
        """
        index = cls()
        v4, v6 = Columns(32), Columns(128)
        load_rows(rows, v4, v6, index._owner_index)
        index._install(v4, v6)
        return index

    @classmethod
    def build_stored(cls, rows4: Iterable[Sequence[Any]], rows6: Iterable[Sequence[Any]]) -> RangeIndex:
        """Index rows in the registry table's stored form (see `range_rows.stored_first`).

        IPv4 rows are (range id, first address, prefix length, owner), IPv6 rows (range id,
        high half, low half, prefix length, owner). No text is parsed: this is how a worker
        builds from the database. Fastest when rows come in ascending id order.

        Raises:
            InvalidCidr: a stored range is out of range or has host bits set.
            DuplicateRangeId: two rows share an id.
        """
        index = cls()
        v4, v6 = Columns(32), Columns(128)
        load_stored_rows(rows4, rows6, v4, v6, index._owner_index)
        index._install(v4, v6)
        return index

    def _install(self, v4: Columns, v6: Columns) -> None:
        """Segment freshly loaded columns into the base of a new index."""
        self._base = {4: SegmentTable(v4), 6: SegmentTable(v6)}
        smaller, larger = sorted((self._base[4].ids, self._base[6].ids), key=len)
        if not set(smaller).isdisjoint(larger):
            raise DuplicateRangeId("a range id is used by both an IPv4 and an IPv6 range")
        self._merge_at = max(_MIN_MERGE, len(self) // 16)
        self._refresh_fast()

    def _refresh_fast(self) -> None:
        """Offer the IPv4 fast path (all columns in one tuple) only while nothing is pending."""
        base = self._base[4]
        if base.dead or self._overlay_lens[4] or base.id_is_row:
            self._fast4 = None
        else:
            owner_mask = (1 << base.owner_bits) - 1
            self._fast4 = (base.starts, base.buckets, base.wins, base.id_shift, owner_mask, self._owner_names)

    def __len__(self) -> int:
        return sum(len(b) - b.dead for b in self._base.values()) + len(self._overlay_rows)

    def __contains__(self, range_id: object) -> bool:
        """Whether a range id is registered."""
        if not isinstance(range_id, int):
            return False
        return range_id in self._overlay_rows or any(b.position_of(range_id) >= 0 for b in self._base.values())

    def add(self, range_id: int, cidr: str | Cidr, owner: str) -> None:
        """Register one range without rebuilding the base.

        Raises:
            InvalidCidr: `cidr` is malformed or has host bits set.
            DuplicateRangeId: `range_id` is already registered.
        """
        parsed = cidr if isinstance(cidr, Cidr) else parse_cidr(cidr)
        if range_id in self:
            raise DuplicateRangeId(f"range id {range_id} is already registered")
        version, plen = parsed.version, parsed.prefix_len
        self._overlay_rows[range_id] = (version, parsed.first, plen, self._owner_index[owner])
        by_len = self._overlay[version]
        if plen not in by_len:
            by_len[plen] = {}
            self._overlay_lens[version] = sorted(by_len, reverse=True)
        by_len[plen].setdefault(parsed.first >> (_WIDTH[version] - plen), []).append(range_id)
        self._fast4 = None if version == 4 else self._fast4
        self._maybe_compact()

    def remove(self, range_id: int) -> None:
        """Unregister one range; the next enclosing range answers for its addresses again.

        Raises:
            UnknownRange: no such range id is registered.
        """
        overlay_row = self._overlay_rows.pop(range_id, None)
        if overlay_row is not None:
            version, first, plen, _ = overlay_row
            by_len = self._overlay[version]
            key = first >> (_WIDTH[version] - plen)
            by_len[plen][key].remove(range_id)
            if not by_len[plen][key]:
                del by_len[plen][key]
                if not by_len[plen]:
                    del by_len[plen]
                    self._overlay_lens[version] = sorted(by_len, reverse=True)
                    self._refresh_fast()
            return
        for base in self._base.values():
            position = base.position_of(range_id)
            if position >= 0:
                base.alive[position] = 0
                base.dead += 1
                self._fast4 = None if base.width == 32 else self._fast4
                self._maybe_compact()
                return
        raise UnknownRange(range_id)

    def _maybe_compact(self) -> None:
        pending = len(self._overlay_rows) + sum(b.dead for b in self._base.values())
        if pending > self._merge_at:
            self.compact()

    def compact(self) -> None:
        """Fold the overlay and the removals into a fresh base (what `add`/`remove` do when due)."""
        columns = {version: base.live_columns() for version, base in self._base.items()}
        for range_id in sorted(self._overlay_rows):  # ids grow, so the rows usually stay in id order
            version, first, plen, owner = self._overlay_rows[range_id]
            columns[version].append(range_id, first, plen, owner)
        self._base = {}  # let the old tables go before the new ones are built
        self._base = {4: SegmentTable(columns[4]), 6: SegmentTable(columns[6])}
        self._overlay = {4: {}, 6: {}}
        self._overlay_lens = {4: [], 6: []}
        self._overlay_rows = {}
        self._merge_at = max(_MIN_MERGE, len(self) // 16)
        self._refresh_fast()

    def lookup(self, ip: IpAddress | str) -> RangeMatch | None:
        """The most specific registered range containing `ip` (smallest id among equals), or None.

        The address is taken as given: pass `addresses.ip_subject_for_owner(ip)` to check an
        IPv4-mapped or NAT64 address against IPv4 ranges.

        Raises:
            InvalidCidr: `ip` is text that is not a strict IP literal.
        """
        if type(ip) is str and ":" not in ip and not _GUARD_ZEROS:  # the common case, inlined
            try:
                value = _from_bytes(_inet_pton(_AF_INET, ip), "big")
            except OSError:
                raise InvalidCidr(f"not an IP address: {ip!r}") from None
        else:
            version, value = parse_address(ip) if type(ip) is str else (ip.version, ip.value)  # type: ignore[union-attr]
            if version == 6:
                return self._lookup_slow(6, value)
        fast = self._fast4
        if fast is None:
            return self._lookup_slow(4, value)
        # SegmentTable's search, inlined: this is the hot path.
        starts, buckets, wins, id_shift, owner_mask, names = fast
        b = value >> 16
        record = wins[_bisect_right(starts, value, buckets[b], buckets[b + 1]) - 1]
        if record == _NO_RANGE:
            return None
        plen = record & 255
        return _new_match(RangeMatch, (record >> id_shift, names[record >> 8 & owner_mask], 4, value & _MASK4[plen], plen))

    def _lookup_slow(self, version: int, value: int) -> RangeMatch | None:
        """IPv6, or a family with pending changes: the base answer, then the overlay's."""
        base = self._base[version]
        if version == 4:
            b = value >> 16
            record = base.wins[_bisect_right(base.starts, value, base.buckets[b], base.buckets[b + 1]) - 1]
        else:
            high, low = value >> 64, value & _M64
            starts, lows, buckets = base.starts, base.start_lows, base.buckets
            b = high >> 48
            j = _bisect_right(starts, high, buckets[b], buckets[b + 1]) - 1
            if starts[j] == high:  # a run of segments shares this high half: search the low halves
                run = _bisect_left(starts, high, buckets[b], j)
                k = _bisect_right(lows, low, run, j + 1) - 1
                j = k if k >= run else run - 1
            record = base.wins[j]
        if base.dead and record != NO_RANGE:
            row = base.row_of(record)
            if not base.alive[row]:  # removed: the nearest live enclosing range answers
                alive, parents = base.alive, base.parents
                while row >= 0 and not alive[row]:
                    row = parents[row]
                record = NO_RANGE if row < 0 else base.record(row)
        if self._overlay_lens[version]:
            return self._with_overlay(version, value, base, record)
        if record == NO_RANGE:
            return None
        return self._base_match(version, value, base, record)

    def _base_match(self, version: int, value: int, base: SegmentTable, record: int) -> RangeMatch:
        range_id, owner, plen = base.decode(record)
        first = value & (_MASK4 if version == 4 else _MASK6)[plen]
        return _new_match(RangeMatch, (range_id, self._owner_names[owner], version, first, plen))

    def _with_overlay(self, version: int, value: int, base: SegmentTable, record: int) -> RangeMatch | None:
        """Compare the base answer with the most specific overlay range holding `value`."""
        best_id, best_len = 0, -1
        if record != NO_RANGE:
            best_id, _, best_len = base.decode(record)
        from_overlay = False
        width, by_len = _WIDTH[version], self._overlay[version]
        for plen in self._overlay_lens[version]:
            if plen < best_len:
                break
            bucket = by_len[plen].get(value >> (width - plen))
            if bucket:
                candidate = min(bucket)
                if plen > best_len or candidate < best_id:
                    best_len, best_id, from_overlay = plen, candidate, True
                break
        if from_overlay:
            _, first, plen, owner = self._overlay_rows[best_id]
            return _new_match(RangeMatch, (best_id, self._owner_names[owner], version, first, plen))
        if record == NO_RANGE:
            return None
        return self._base_match(version, value, base, record)

    def covers(self, ip: IpAddress | str) -> bool:
        """Whether any registered range contains `ip`.

        Raises:
            InvalidCidr: `ip` is text that is not a strict IP literal.
        """
        return self.lookup(ip) is not None
