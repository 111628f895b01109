"""The bulk import's line parser gives exactly what `parse_cidr` and `format_prefix` give."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies.cidr import InvalidCidr, format_prefix, parse_cidr, parse_range_fields, parse_range_line


@st.composite
def prefixes(draw: st.DrawFn) -> str:
    """Valid prefixes in every spelling the parser accepts (IPv6 compressed, expanded, mapped)."""
    version = draw(st.sampled_from([4, 6]))
    width = 32 if version == 4 else 128
    plen = draw(st.integers(0, width))
    value = draw(st.integers(0, (1 << width) - 1)) >> (width - plen) << (width - plen)
    if version == 4:
        return f"{ipaddress.IPv4Address(value)}/{plen}"
    address = ipaddress.IPv6Address(value)
    spelling = draw(st.sampled_from([str(address), address.exploded, address.exploded.upper()]))
    return f"{spelling}/{plen}"


@given(prefixes(), st.sampled_from(["", ",owner", ", team a  ", "  # comment", ",x # y"]))
def test_fields_agree_with_the_cidr_parser(text: str, tail: str) -> None:
    fields = parse_range_fields(f"  {text}{tail}\n")
    assert fields is not None
    version, first, prefix_len, canonical, _owner = fields
    cidr = parse_cidr(text)
    assert (version, first, prefix_len, canonical) == (cidr.version, cidr.first, cidr.prefix_len, cidr.text)
    assert canonical == format_prefix(version, first, prefix_len)
    line = parse_range_line(f"{text}{tail}")
    assert line is not None and line[0] == cidr


def test_a_bare_ipv4_address_is_a_host_prefix() -> None:
    assert parse_range_fields("192.0.2.1,a") == (4, 0xC0000201, 32, "192.0.2.1/32", "a")


@pytest.mark.parametrize("line", ["010.0.0.0/8", "10.0.0.0/08", "10.0.0.1/8", "10.0.0.0/33", "10.0.0.0 /8", "x/8"])
def test_odd_spellings_are_refused_not_copied(line: str) -> None:
    with pytest.raises(InvalidCidr):
        parse_range_fields(line)


def test_comments_and_blank_lines_are_nothing() -> None:
    assert parse_range_fields("   # only a comment\n") is None
    assert parse_range_fields("\n") is None
