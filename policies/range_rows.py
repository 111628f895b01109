"""(range id, CIDR, owner) rows into `Columns`: the first half of building the range index.

Every worker start puts a million rows through here, so IPv4 rows are parsed a chunk at a time
by C loops (`map` over `inet_pton`, `int.from_bytes`, dict lookups) rather than one Python
iteration per row. A chunk with anything unusual (a `Cidr` object, an invalid CIDR, a platform
whose `inet_pton` accepts leading zeros) takes the per-row path instead, which also words the
error of an invalid row exactly as `parse_prefix` does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import compress, islice, repeat
from operator import and_, contains, itemgetter, lshift, not_, or_

from policies import cidr as _cidr
from policies.cidr import Cidr, parse_prefix
from policies.segments import Columns

_CHUNK = 4096
_inet_pton, _AF_INET, _from_bytes = _cidr._inet_pton, _cidr._AF_INET, int.from_bytes
_first_part, _second_part, _last_part = itemgetter(0), itemgetter(1), itemgetter(2)


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
