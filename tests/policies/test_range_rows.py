"""Building the index from the registry table's numeric form: same answers as from CIDR text."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings

from policies.cidr import parse_cidr
from policies.ownership import InvalidCidr, RangeIndex
from policies.range_rows import stored_first
from tests.policies.test_ownership import NaiveIndex, addresses, answer, rows


def stored(built: list[tuple[int, str, str]]) -> tuple[list[tuple[int, int, int, str]], list[tuple[int, int, int, int, str]]]:
    """The rows as the registry table stores them, split by family."""
    rows4, rows6 = [], []
    for range_id, text, owner in built:
        cidr = parse_cidr(text)
        high, low = stored_first(cidr.version, cidr.first)
        if cidr.version == 4:
            rows4.append((range_id, high, cidr.prefix_len, owner))
        else:
            rows6.append((range_id, high, low, cidr.prefix_len, owner))
    return rows4, rows6


def by_address(built: list[tuple[int, str, str]]) -> list[tuple[int, str, str]]:
    """The rows in address order, renumbered so that ids follow it (as an import writes them)."""
    ordered = sorted(built, key=lambda r: (ipaddress.ip_network(r[1]).version, int(ipaddress.ip_network(r[1]).network_address),
                                           ipaddress.ip_network(r[1]).prefixlen, r[0]))
    return [(k + 1, cidr, owner) for k, (_, cidr, owner) in enumerate(ordered)]


@settings(max_examples=200, deadline=None)
@given(rows, addresses.flatmap(lambda a: addresses.map(lambda b: [a, b])))
def test_stored_build_matches_reference_in_id_and_in_address_order(built: list[tuple[int, str, str]], probes: list[str]) -> None:
    for variant in (built, by_address(built)):
        index, naive = RangeIndex.build_stored(*stored(variant)), NaiveIndex()
        for row in variant:
            naive.add(*row)
        for ip in probes:
            assert answer(index, ip) == naive.lookup(ip), ip
        assert len(index) == len(variant)


def test_presorted_ipv4_rows_with_nesting_and_shared_starts_then_changes() -> None:
    built = by_address([(9, "10.0.0.0/8", "a"), (3, "10.0.0.0/16", "b"), (5, "10.0.0.0/24", "c"), (1, "10.0.1.0/24", "d"),
                        (2, "10.1.0.0/16", "e"), (7, "11.0.0.0/8", "f"), (8, "0.0.0.0/0", "g"), (4, "255.255.255.255/32", "h")])
    index, naive = RangeIndex.build_stored(*stored(built)), NaiveIndex()
    for row in built:
        naive.add(*row)
    probes = ["10.0.0.1", "10.0.1.1", "10.0.2.1", "10.0.16.1", "10.1.2.3", "10.2.0.0", "11.1.1.1", "12.0.0.0",
              "255.255.255.255", "0.0.0.0"]
    assert [answer(index, ip) for ip in probes] == [naive.lookup(ip) for ip in probes]
    sixteen = next(range_id for range_id, cidr, _ in built if cidr == "10.0.0.0/16")
    for changed in (index, naive):  # a presorted base takes removals and additions like any other
        changed.remove(sixteen)
        changed.add(100, "10.0.0.0/20", "i")
    assert [answer(index, ip) for ip in probes] == [naive.lookup(ip) for ip in probes]


@pytest.mark.parametrize(("text", "expected"), [
    ("10.0.0.0/8", (0x0A000000, 0)),
    ("2001:db8::/32", (0x20010DB800000000, 0)),
    ("ff00::/8", (0xFF00000000000000 - (1 << 64), 0)),
    ("::ffff:0:0/96", (0, 0x0000FFFF00000000)),
    ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", (-1, -1)),
])
def test_stored_first_fits_signed_64_bit_columns(text: str, expected: tuple[int, int]) -> None:
    cidr = parse_cidr(text)
    high, low = stored_first(cidr.version, cidr.first)
    assert (high, low) == expected
    assert all(-(1 << 63) <= half < (1 << 63) for half in (high, low))


@pytest.mark.parametrize(("rows4", "rows6", "message"), [
    ([(7, 0x0A000001, 8, "x")], [], "range 7: host bits set"),
    ([(7, -1, 8, "x")], [], "range 7: stored address out of range"),
    ([(7, 1 << 32, 32, "x")], [], "range 7: stored address out of range"),
    ([(7, 0, 33, "x")], [], "range 7: stored prefix length"),
    ([(7, None, 8, "x")], [], "range 7: stored prefix length or address is not a number"),
    ([], [(7, 0, 1, 64, "x")], "range 7: host bits set"),
    ([], [(7, 0, 0, 129, "x")], "range 7: stored prefix length"),
])
def test_invalid_stored_rows_are_refused_by_range_id(rows4: list[tuple[object, ...]], rows6: list[tuple[object, ...]], message: str) -> None:
    with pytest.raises(InvalidCidr, match=message):
        RangeIndex.build_stored(rows4, rows6)  # type: ignore[arg-type]
