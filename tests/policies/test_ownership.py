"""The owned-range index against a naive reference, plus the CIDR parser's strictness."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.addresses import parse_ip
from policies.cidr import parse_cidr, parse_prefix, parse_range_line
from policies.ownership import DuplicateRangeId, InvalidCidr, RangeIndex, UnknownRange


@dataclass
class NaiveIndex:
    """The reference: a list scan with `ipaddress`, longest prefix then smallest id."""

    rows: dict[int, tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]] = field(default_factory=dict)

    def add(self, range_id: int, cidr: str, owner: str) -> None:
        self.rows[range_id] = (ipaddress.ip_network(cidr), owner)

    def remove(self, range_id: int) -> None:
        del self.rows[range_id]

    def lookup(self, ip: str) -> tuple[int, str, str] | None:
        address = ipaddress.ip_address(ip)
        hits = [(-net.prefixlen, rid, str(net), owner) for rid, (net, owner) in self.rows.items()
                if net.version == address.version and address in net]
        if not hits:
            return None
        _, rid, cidr, owner = min(hits)
        return rid, cidr, owner


def answer(index: RangeIndex, ip: str) -> tuple[int, str, str] | None:
    match = index.lookup(ip)
    return None if match is None else (match.range_id, match.cidr, match.owner)


SAMPLE = [
    (1, "10.0.0.0/8", "corp"),
    (2, "10.1.0.0/16", "lab"),
    (3, "10.1.2.0/24", "team"),
    (4, "10.1.2.128/25", "svc"),
    (5, "198.51.100.0/24", "docs"),
    (6, "2001:db8::/32", "v6corp"),
    (7, "2001:db8:1::/48", "v6lab"),
    (8, "203.0.113.7/32", "host"),
]


@pytest.mark.parametrize(
    ("ip", "expected_id"),
    [
        ("10.1.2.200", 4), ("10.1.2.127", 3), ("10.1.3.0", 2), ("10.2.0.0", 1), ("10.255.255.255", 1),
        ("9.255.255.255", None), ("11.0.0.0", None), ("198.51.100.0", 5), ("198.51.101.0", None),
        ("203.0.113.7", 8), ("203.0.113.8", None), ("2001:db8:1::1", 7), ("2001:db8:2::1", 6),
        ("2001:db9::", None), ("::", None), ("0.0.0.0", None), ("255.255.255.255", None),
    ],
)
def test_most_specific_range_wins(ip: str, expected_id: int | None) -> None:
    index = RangeIndex.build(SAMPLE)
    match = index.lookup(ip)
    assert (match.range_id if match else None) == expected_id
    assert index.covers(ip) is (expected_id is not None)


def test_match_carries_cidr_and_owner_and_accepts_parsed_addresses() -> None:
    index = RangeIndex.build(SAMPLE)
    ip = parse_ip("10.1.2.3")
    assert ip is not None
    match = index.lookup(ip)
    assert match is not None and (match.range_id, match.cidr, match.owner) == (3, "10.1.2.0/24", "team")
    assert len(index) == len(SAMPLE)


def test_remove_falls_back_to_the_enclosing_range() -> None:
    index = RangeIndex.build(SAMPLE)
    index.remove(4)
    assert answer(index, "10.1.2.200") == (3, "10.1.2.0/24", "team")
    index.remove(3)
    index.remove(2)
    assert answer(index, "10.1.2.200") == (1, "10.0.0.0/8", "corp")
    index.remove(1)
    assert index.lookup("10.1.2.200") is None
    assert len(index) == len(SAMPLE) - 4
    with pytest.raises(UnknownRange):
        index.remove(1)
    with pytest.raises(UnknownRange):
        index.remove(99)


def test_add_after_build_and_remove_of_added() -> None:
    index = RangeIndex.build(SAMPLE)
    index.add(10, "10.1.2.192/26", "newer")
    assert answer(index, "10.1.2.200") == (10, "10.1.2.192/26", "newer")
    assert answer(index, "10.1.2.129") == (4, "10.1.2.128/25", "svc")
    index.add(11, "192.0.2.0/24", "fresh")
    assert answer(index, "192.0.2.1") == (11, "192.0.2.0/24", "fresh")
    index.remove(10)
    assert answer(index, "10.1.2.200") == (4, "10.1.2.128/25", "svc")
    index.compact()
    assert answer(index, "192.0.2.1") == (11, "192.0.2.0/24", "fresh")
    assert len(index) == len(SAMPLE) + 1


def test_equal_cidrs_answer_the_smallest_id_across_base_and_overlay() -> None:
    index = RangeIndex.build([(5, "10.0.0.0/8", "b"), (3, "10.0.0.0/8", "a"), (9, "10.0.0.0/8", "c")])
    assert answer(index, "10.9.9.9") == (3, "10.0.0.0/8", "a")
    index.add(1, "10.0.0.0/8", "first")
    assert answer(index, "10.9.9.9") == (1, "10.0.0.0/8", "first")
    index.remove(1)
    index.remove(3)
    assert answer(index, "10.9.9.9") == (5, "10.0.0.0/8", "b")


def test_ids_are_unique() -> None:
    with pytest.raises(DuplicateRangeId):
        RangeIndex.build([(1, "10.0.0.0/8", "a"), (1, "11.0.0.0/8", "b")])
    with pytest.raises(DuplicateRangeId):
        RangeIndex.build([(1, "10.0.0.0/8", "a"), (1, "2001:db8::/32", "b")])
    index = RangeIndex.build(SAMPLE)
    with pytest.raises(DuplicateRangeId):
        index.add(1, "192.0.2.0/24", "x")
    index.remove(1)
    index.add(1, "192.0.2.0/24", "x")  # a removed id may come back
    assert 1 in index and answer(index, "192.0.2.9") == (1, "192.0.2.0/24", "x")


def test_empty_index() -> None:
    index = RangeIndex.build([])
    assert len(index) == 0 and index.lookup("1.2.3.4") is None and index.lookup("::1") is None


def test_whole_address_space_and_host_routes() -> None:
    index = RangeIndex.build([(1, "0.0.0.0/0", "all"), (2, "::/0", "all6"), (3, "8.8.8.8/32", "dns")])
    assert answer(index, "255.255.255.255") == (1, "0.0.0.0/0", "all")
    assert answer(index, "8.8.8.8") == (3, "8.8.8.8/32", "dns")
    assert answer(index, "ffff::") == (2, "::/0", "all6")


@pytest.mark.parametrize(
    "bad",
    ["10.0.0.1/8", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/08", "10.0.0.0/", "010.0.0.0/8", "10.0.0/8",
     "2001:db8::1/32", "2001:db8::/129", "2001:db8::/3x", "fe80::%eth0/64", "[2001:db8::]/32", "", "/8",
     "10.0.0.0/8/8", "10.0.0.0 /8", "example.com/24", "10.0.0.0/٨"],
)
def test_bad_cidrs_are_refused_with_a_clear_error(bad: str) -> None:
    with pytest.raises(InvalidCidr) as caught:
        parse_cidr(bad)
    assert str(caught.value)
    with pytest.raises(InvalidCidr):
        RangeIndex.build([(1, bad, "x")])
    with pytest.raises(InvalidCidr):
        RangeIndex.build([]).add(1, bad, "x")


def test_host_bits_error_names_the_network() -> None:
    with pytest.raises(InvalidCidr, match=r"10\.0\.0\.0/8"):
        parse_cidr("10.0.0.1/8")


@pytest.mark.parametrize(
    ("text", "canonical"),
    [("10.0.0.0/8", "10.0.0.0/8"), (" 192.0.2.0/24\n", "192.0.2.0/24"), ("2001:DB8::/32", "2001:db8::/32"),
     ("2001:db8:0:0::/64", "2001:db8::/64"), ("203.0.113.7", "203.0.113.7/32"), ("::1", "::1/128"),
     ("::ffff:10.0.0.0/104", "::ffff:10.0.0.0/104"), ("0.0.0.0/0", "0.0.0.0/0")],
)
def test_cidr_canonical_text(text: str, canonical: str) -> None:
    assert parse_cidr(text).text == canonical


def test_range_lines() -> None:
    assert parse_range_line("# comment") is None and parse_range_line("   ") is None
    cidr, owner = parse_range_line("10.0.0.0/8, ACME Corp  # ours") or (None, None)
    assert cidr is not None and cidr.text == "10.0.0.0/8" and owner == "ACME Corp"
    cidr, owner = parse_range_line("2001:db8::/32") or (None, None)
    assert cidr is not None and owner == ""


# ---- property tests against the naive reference ------------------------------------------------

def _v4_cidr(base: int, plen: int) -> str:
    return str(ipaddress.IPv4Network((base & ~((1 << (32 - plen)) - 1) & 0xFFFFFFFF, plen)))


def _v6_cidr(base: int, plen: int) -> str:
    return str(ipaddress.IPv6Network((base & ~((1 << (128 - plen)) - 1) & ((1 << 128) - 1), plen)))


# Addresses drawn from a narrow window so that ranges nest and collide often.
v4_cidrs = st.builds(_v4_cidr, st.integers(0x0A000000, 0x0A0003FF), st.integers(20, 32))
v6_bases = st.integers(0, 0x3FF).map(lambda x: (0x20010DB8 << 96) | (x << 70))
v6_cidrs = st.builds(_v6_cidr, v6_bases, st.integers(40, 128))
cidrs = st.one_of(v4_cidrs, v4_cidrs, v6_cidrs, st.sampled_from(["0.0.0.0/0", "10.0.0.0/8", "::/0"]))
addresses = st.one_of(
    st.integers(0x09FFFFFF, 0x0A000400).map(lambda v: str(ipaddress.IPv4Address(v))),
    st.integers(0, 0x3FF).map(lambda x: str(ipaddress.IPv6Address((0x20010DB8 << 96) | (x << 70) | 5))),
    st.sampled_from(["0.0.0.0", "255.255.255.255", "::", "2001:db9::1"]),
)
owners = st.sampled_from(["a", "b", "c"])
rows = st.lists(st.tuples(st.integers(1, 10_000), cidrs, owners), max_size=40, unique_by=lambda r: r[0])


@settings(max_examples=200, deadline=None)
@given(rows, st.lists(addresses, min_size=1, max_size=20))
def test_build_matches_reference(built: list[tuple[int, str, str]], probes: list[str]) -> None:
    index, naive = RangeIndex.build(built), NaiveIndex()
    for row in built:
        naive.add(*row)
    for ip in probes:
        assert answer(index, ip) == naive.lookup(ip), ip
    assert len(index) == len(built)


operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(1, 10_000), cidrs, owners),
        st.tuples(st.just("remove"), st.integers(0, 39)),
        st.tuples(st.just("compact")),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(rows, operations, st.lists(addresses, min_size=1, max_size=15))
def test_interleaved_changes_match_reference(
    built: list[tuple[int, str, str]], ops: list[tuple[object, ...]], probes: list[str]
) -> None:
    index, naive = RangeIndex.build(built), NaiveIndex()
    for row in built:
        naive.add(*row)
    for op in ops:
        if op[0] == "add":
            _, rid, cidr, owner = op
            assert isinstance(rid, int) and isinstance(cidr, str) and isinstance(owner, str)
            if rid in naive.rows:
                with pytest.raises(DuplicateRangeId):
                    index.add(rid, cidr, owner)
                continue
            index.add(rid, cidr, owner)
            naive.add(rid, cidr, owner)
        elif op[0] == "remove" and naive.rows:
            assert isinstance(op[1], int)
            rid = sorted(naive.rows)[op[1] % len(naive.rows)]
            index.remove(rid)
            naive.remove(rid)
        elif op[0] == "compact":
            index.compact()
        for ip in probes:
            assert answer(index, ip) == naive.lookup(ip), (op, ip)
    assert len(index) == len(naive.rows)


@settings(max_examples=300, deadline=None)
@given(st.one_of(v4_cidrs, v6_cidrs))
def test_parser_agrees_with_ipaddress(cidr: str) -> None:
    network = ipaddress.ip_network(cidr)
    version, first, plen = parse_prefix(cidr)
    assert (version, first, plen) == (network.version, int(network.network_address), network.prefixlen)
    assert parse_cidr(cidr).text == str(network)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789abcdef.:/x ", max_size=24))
def test_parser_never_accepts_what_ipaddress_rejects(text: str) -> None:
    try:  # parse_cidr strips surrounding whitespace on purpose (import lines, API input)
        expected = ipaddress.ip_network(text.strip(), strict=True)
    except ValueError:
        expected = None
    try:
        got = parse_cidr(text)
    except InvalidCidr:
        got = None
    if got is not None:  # (text differs on purpose for ::ffff:0:0/96: we write mixed notation)
        assert expected is not None, text
        assert (got.version, got.first, got.prefix_len) == (
            expected.version, int(expected.network_address), expected.prefixlen), text
