"""Rows of ranges into `Columns`: the first half of building the range index.

Every worker start puts a million rows through here, so rows are handled a chunk at a time by
C loops (`zip`, `map` over `inet_pton`, `int.from_bytes`, dict lookups) rather than one Python
iteration per row. Two forms come in:

- (range id, CIDR text, owner), `load_rows`: IPv4 text is parsed by C loops; a chunk with
  anything unusual (a `Cidr` object, an invalid CIDR, a platform whose `inet_pton` accepts
  leading zeros) takes the per-row path instead, which also words the error of an invalid row
  exactly as `parse_prefix` does.
- the registry table's stored form (`stored_first`), `load_stored_rows`: numbers only, so a
  worker's build parses no text at all; the numbers are still checked, by C loops.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import compress, islice, repeat
from operator import and_, contains, itemgetter, lshift, not_, or_
from typing import Any

from policies import cidr as _cidr
from policies.cidr import Cidr, InvalidCidr, parse_prefix
from policies.segments import Columns

_CHUNK = 4096
_inet_pton, _AF_INET, _from_bytes = _cidr._inet_pton, _cidr._AF_INET, int.from_bytes
_first_part, _second_part, _last_part = itemgetter(0), itemgetter(1), itemgetter(2)
_GETTERS = [itemgetter(k) for k in range(5)]
_M32, _M64, _SIGN64 = (1 << 32) - 1, (1 << 64) - 1, 1 << 63
# Host bits of an IPv6 prefix in each 64-bit half of the address, by prefix length.
_V6_HIGH_HOST = [(1 << (64 - p)) - 1 if p < 64 else 0 for p in range(129)]
_V6_LOW_HOST = [_M64 if p <= 64 else (1 << (128 - p)) - 1 for p in range(129)]


class OwnerNumbers(dict[str, int]):
    """Owner name -> number; a name seen for the first time is numbered then (`__missing__`)."""

    def __init__(self, names: list[str]) -> None:
        super().__init__()
        self.names = names

    def __missing__(self, owner: str) -> int:
        number = self[owner] = len(self.names)
        self.names.append(owner)
        return number


def load_rows(rows: Iterable[Sequence[object]], v4: Columns, v6: Columns, owners: OwnerNumbers) -> None:
    """Append every row to the columns of its family, a chunk at a time (rows are streamed).

    Raises:
        InvalidCidr: a CIDR is malformed or has host bits set.
    """
    source = iter(rows)
    while chunk := list(islice(source, _CHUNK)):
        cidrs = list(map(_second_part, chunk))
        if not all(map(str.__instancecheck__, cidrs)):
            _append_rows(chunk, v4, v6, owners)
            continue
        is_v6 = list(map(contains, cidrs, repeat(":")))
        if any(is_v6):
            _append_rows(list(compress(chunk, is_v6)), v4, v6, owners)
            chunk = list(compress(chunk, map(not_, is_v6)))
        if chunk and (_cidr._GUARD_ZEROS or not _append_ipv4_chunk(chunk, v4, owners)):
            _append_rows(chunk, v4, v6, owners)


def _append_ipv4_chunk(chunk: list[Sequence[object]], v4: Columns, owners: OwnerNumbers) -> bool:
    """Append a chunk of IPv4 CIDR text rows if every one is valid; False (nothing added) if not."""
    parts = list(map(str.partition, map(_second_part, chunk), repeat("/")))
    plens = list(map(_cidr._PREFIX_TEXT.get, map(_last_part, parts), repeat(255)))
    if max(plens) > 32:
        return False
    try:
        packed = map(_inet_pton, repeat(_AF_INET), map(_first_part, parts))
        values = list(map(_from_bytes, packed, repeat("big")))  # type: ignore[arg-type]
    except (OSError, TypeError, ValueError):
        return False
    if any(map(and_, values, map(_cidr._V4_HOST.__getitem__, plens))):
        return False  # host bits set: the per-row path names the row
    numbers = map(owners.__getitem__, map(_last_part, chunk))
    tails = list(map(or_, map(lshift, numbers, repeat(8)), plens))
    v4.extend(list(map(_first_part, chunk)), tails, map(or_, map(lshift, values, repeat(6)), plens))
    return True


def _append_rows(chunk: Iterable[Sequence[object]], v4: Columns, v6: Columns, owners: OwnerNumbers) -> None:
    """One row at a time: `Cidr` objects, IPv6, and rows that may be invalid."""
    for range_id, cidr, owner in chunk:
        if isinstance(cidr, Cidr):
            version, first, plen = cidr.version, cidr.first, cidr.prefix_len
        else:
            version, first, plen = parse_prefix(cidr)  # type: ignore[arg-type]
        (v4 if version == 4 else v6).append(range_id, first, plen, owners[owner])  # type: ignore[arg-type,index]


def stored_first(version: int, first: int) -> tuple[int, int]:
    """A range's first address as the registry table stores it: (high, low).

    SQL integers are signed 64-bit, so an IPv6 address is kept as two 64-bit halves in two's
    complement; an IPv4 address is the high column alone (low 0). Numbers rather than packed
    bytes because both databases hand integers over cheaply and compare them in address order
    within a half's sign.
    """
    if version == 4:
        return first, 0
    high, low = first >> 64, first & _M64
    return high - (high & _SIGN64) * 2, low - (low & _SIGN64) * 2


def load_stored_rows(rows4: Iterable[Sequence[Any]], rows6: Iterable[Sequence[Any]], v4: Columns, v6: Columns,
                     owners: OwnerNumbers) -> None:
    """Append rows in the stored form (`stored_first`) to the columns, a chunk at a time.

    IPv4 rows are (range id, first address, prefix length, owner); IPv6 rows are (range id,
    high half, low half, prefix length, owner), halves signed or not. Nothing is parsed; the
    numbers are checked all the same (a hand-edited row must not corrupt the index).

    Raises:
        InvalidCidr: a row's prefix length or address is out of range, or host bits are set.
    """
    source = iter(rows4)
    while chunk := list(islice(source, _CHUNK)):
        ids, firsts, plens, names = _columns(chunk, 4)
        try:
            valid = (0 <= min(plens) and max(plens) <= 32 and 0 <= min(firsts) and max(firsts) <= _M32
                     and not any(map(and_, firsts, map(_cidr._V4_HOST.__getitem__, plens))))
        except TypeError:  # a NULL
            valid = False
        if not valid:
            _refuse_stored(4, chunk)
        tails = list(map(or_, map(lshift, map(owners.__getitem__, names), repeat(8)), plens))
        v4.extend(ids, tails, map(or_, map(lshift, firsts, repeat(6)), plens))
    source = iter(rows6)
    while chunk := list(islice(source, _CHUNK)):
        ids, signed_highs, signed_lows, plens, names = _columns(chunk, 5)
        try:
            highs = list(map(and_, signed_highs, repeat(_M64)))
            lows = list(map(and_, signed_lows, repeat(_M64)))
            valid = (0 <= min(plens) and max(plens) <= 128 and -_SIGN64 <= min(signed_highs) and max(signed_highs) <= _M64
                     and -_SIGN64 <= min(signed_lows) and max(signed_lows) <= _M64
                     and not any(map(and_, highs, map(_V6_HIGH_HOST.__getitem__, plens)))
                     and not any(map(and_, lows, map(_V6_LOW_HOST.__getitem__, plens))))
        except TypeError:
            valid = False
        if not valid:
            _refuse_stored(6, chunk)
        tails = list(map(or_, map(lshift, map(owners.__getitem__, names), repeat(8)), plens))
        v6.extend(ids, tails, highs, lows)


def _columns(chunk: list[Sequence[Any]], count: int) -> list[list[Any]]:
    """The chunk's first `count` columns as lists (`zip(*chunk)` is eight times slower)."""
    return [list(map(getter, chunk)) for getter in _GETTERS[:count]]


def _refuse_stored(version: int, chunk: list[Sequence[Any]]) -> None:
    """Name the first invalid stored row of a chunk.

    Raises:
        InvalidCidr: always.
    """
    width = 32 if version == 4 else 128
    for row in chunk:
        range_id, parts, plen = row[0], row[1:-2], row[-2]
        if not (type(plen) is int and 0 <= plen <= width and all(type(p) is int for p in parts)):
            raise InvalidCidr(f"range {range_id}: stored prefix length or address is not a number in range")
        if version == 4:
            in_range, first = 0 <= parts[0] <= _M32, parts[0]
        else:
            in_range, first = all(-_SIGN64 <= p <= _M64 for p in parts), (parts[0] & _M64) << 64 | parts[1] & _M64
        if not in_range:
            raise InvalidCidr(f"range {range_id}: stored address out of range")
        if first & (_cidr._V4_HOST if version == 4 else _cidr._V6_HOST)[plen]:
            raise InvalidCidr(f"range {range_id}: host bits set below /{plen} in the stored address")
    raise InvalidCidr(f"an invalid stored IPv{version} range")  # not reached: the chunk check found one
