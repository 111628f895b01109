"""The special-purpose address table, reachability rules and IP-literal parsing, as a table."""

from __future__ import annotations

import ipaddress

import pytest

from policies import special_purpose as sp
from policies.addresses import (
    all_blocks,
    embedded_ipv4,
    format_ipv6,
    ip_subject_for_owner,
    is_globally_reachable,
    parse_ip,
    parse_ip_lenient,
    special_block,
    unreachable_reason,
)

# (address, globally reachable?) — edges of every block, the addresses just outside, the
# exceptions inside blocks, and the embedded-IPv4 forms.
VERDICTS: list[tuple[str, bool]] = [
    # IPv4 ordinary space and edges
    ("8.8.8.8", True), ("1.1.1.1", True), ("0.255.255.255", False), ("1.0.0.0", True),
    ("0.0.0.0", False), ("0.0.0.1", False),
    ("9.255.255.255", True), ("10.0.0.0", False), ("10.255.255.255", False), ("11.0.0.0", True),
    ("100.63.255.255", True), ("100.64.0.0", False), ("100.127.255.255", False), ("100.128.0.0", True),
    ("126.255.255.255", True), ("127.0.0.0", False), ("127.0.0.1", False), ("127.255.255.255", False),
    ("128.0.0.0", True),
    ("169.253.255.255", True), ("169.254.0.0", False), ("169.254.255.255", False), ("169.255.0.0", True),
    ("172.15.255.255", True), ("172.16.0.0", False), ("172.31.255.255", False), ("172.32.0.0", True),
    ("191.255.255.255", True), ("192.0.0.0", False), ("192.0.0.7", False), ("192.0.0.8", False),
    ("192.0.0.9", True), ("192.0.0.10", True), ("192.0.0.11", False), ("192.0.0.170", False),
    ("192.0.0.171", False), ("192.0.0.255", False), ("192.0.1.0", True),
    ("192.0.2.0", False), ("192.0.2.255", False), ("192.0.3.0", True),
    ("192.31.195.255", True), ("192.31.196.0", True), ("192.31.196.255", True), ("192.31.197.0", True),
    ("192.52.193.0", True), ("192.52.193.255", True),
    ("192.88.98.255", True), ("192.88.99.0", False), ("192.88.99.2", False), ("192.88.99.255", False),
    ("192.88.100.0", True),
    ("192.167.255.255", True), ("192.168.0.0", False), ("192.168.255.255", False), ("192.169.0.0", True),
    ("192.175.48.0", True), ("192.175.48.255", True),
    ("198.17.255.255", True), ("198.18.0.0", False), ("198.19.255.255", False), ("198.20.0.0", True),
    ("198.51.99.255", True), ("198.51.100.0", False), ("198.51.100.255", False), ("198.51.101.0", True),
    ("203.0.112.255", True), ("203.0.113.0", False), ("203.0.113.255", False), ("203.0.114.0", True),
    ("223.255.255.255", True), ("224.0.0.0", False), ("239.255.255.255", False),
    ("240.0.0.0", False), ("255.255.255.254", False), ("255.255.255.255", False),
    # IPv6 ordinary space and edges
    ("2606:4700:4700::1111", True), ("2a00:1450:4001::200e", True), ("2000::", True),
    ("3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", True), ("3fff::", False),
    ("3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", False), ("3fff:1000::", True),
    ("::", False), ("::1", False), ("::2", False),
    ("::ffff:0:0", False), ("::ffff:8.8.8.8", True), ("::ffff:10.0.0.1", False),
    ("::ffff:127.0.0.1", False), ("::ffff:192.0.0.9", True), ("::FFFF:C000:0009", True), ("::FFFF:C000:0209", False),
    ("64:ff9b::8.8.8.8", True), ("64:ff9b::10.0.0.5", False), ("64:ff9b::", False),
    ("64:ff9b::ffff:ffff", False), ("64:ff9b::1:0:0", False),
    ("64:ff9b:1::", False), ("64:ff9b:1:ffff:ffff:ffff:ffff:ffff", False),
    ("100::", False), ("100::ffff:ffff:ffff:ffff", False), ("100:0:0:1::", False),
    ("100:0:0:1:ffff:ffff:ffff:ffff", False), ("100:0:0:2::", False),
    ("1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", False),
    ("2001::", False), ("2001::1", False), ("2001:0:ffff::", False), ("2001:1::", False),
    ("2001:1::1", True), ("2001:1::2", True), ("2001:1::3", True), ("2001:1::4", False),
    ("2001:2::", False), ("2001:2:0:ffff::", False), ("2001:2:1::", False),
    ("2001:3::", True), ("2001:3:ffff:ffff:ffff:ffff:ffff:ffff", True), ("2001:4::", False),
    ("2001:4:112::", True), ("2001:4:112:ffff:ffff:ffff:ffff:ffff", True), ("2001:4:113::", False),
    ("2001:10::", False), ("2001:1f:ffff::", False),
    ("2001:20::", True), ("2001:2f:ffff:ffff:ffff:ffff:ffff:ffff", True),
    ("2001:30::", True), ("2001:3f:ffff:ffff:ffff:ffff:ffff:ffff", True), ("2001:40::", False),
    ("2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", False), ("2001:200::", True),
    ("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", True), ("2001:db8::", False),
    ("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", False), ("2001:db9::", True),
    ("2002::", False), ("2002:a00:5::", False), ("2002:808:808::1", False),
    ("2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff", False), ("2003::", True),
    ("2620:4f:7fff:ffff:ffff:ffff:ffff:ffff", True), ("2620:4f:8000::", True),
    ("2620:4f:8000:ffff:ffff:ffff:ffff:ffff", True), ("2620:4f:8001::", True),
    ("5f00::", False), ("5f00:ffff::1", False), ("4000::1", False), ("8000::1", False),
    ("fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", False), ("fc00::", False),
    ("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", False),
    ("fe80::", False), ("fe80::1", False), ("FE80::1", False), ("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", False),
    ("fec0::1", False), ("ff00::", False), ("ff02::1", False), ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", False),
]


def test_the_table_is_big_enough_to_mean_something() -> None:
    assert len(VERDICTS) >= 100


@pytest.mark.parametrize(("text", "reachable"), VERDICTS)
def test_globally_reachable(text: str, reachable: bool) -> None:
    ip = parse_ip(text)
    assert ip is not None, text
    assert is_globally_reachable(ip) is reachable
    assert (unreachable_reason(ip) is None) is reachable


@pytest.mark.parametrize(
    ("text", "cidr"),
    [
        ("192.0.0.9", "192.0.0.9/32"), ("192.0.0.5", "192.0.0.0/29"), ("192.0.0.200", "192.0.0.0/24"),
        ("192.88.99.2", "192.88.99.2/32"), ("192.88.99.3", "192.88.99.0/24"), ("0.0.0.0", "0.0.0.0/32"),
        ("0.1.2.3", "0.0.0.0/8"), ("2001::5", "2001::/32"), ("2001:1::3", "2001:1::3/128"),
        ("2001:5::", "2001::/23"), ("64:ff9b::1", "64:ff9b::/96"), ("::ffff:1.2.3.4", "::ffff:0:0/96"),
        ("100:0:0:1::5", "100:0:0:1::/64"), ("100:0:0:2::", "100::/8"), ("3fff::1", "3fff::/20"),
        ("224.0.0.1", "224.0.0.0/4"), ("ff02::1", "ff00::/8"), ("8.8.8.8", None), ("2606:4700::1", None),
    ],
)
def test_special_block_is_the_most_specific(text: str, cidr: str | None) -> None:
    block = special_block(text)
    assert (block.cidr if block else None) == cidr


def test_every_registry_row_is_present_and_well_formed() -> None:
    blocks = {b.cidr: b for b in all_blocks()}
    for row in sp.IPV4_SPECIAL_ROWS + sp.IPV6_SPECIAL_ROWS + sp.IPV4_SPACE_ROWS + sp.IPV6_SPACE_ROWS:
        block = blocks[row[0]]
        network = ipaddress.ip_network(row[0])  # strict: no host bits in the data
        assert (block.first, block.last) == (int(network.network_address), int(network.broadcast_address))
        assert block.globally_reachable is bool(row[3])
    assert len(sp.IPV4_SPECIAL_ROWS) == 26 and len(sp.IPV6_SPECIAL_ROWS) == 25


@pytest.mark.parametrize(
    ("text", "owner_subject"),
    [
        ("::ffff:203.0.113.9", "203.0.113.9"), ("64:ff9b::8.8.8.8", "8.8.8.8"),
        ("2002:808:808::1", "2002:808:808::1"), ("8.8.8.8", "8.8.8.8"), ("2001:db8::1", "2001:db8::1"),
        ("64:ff9b:1::808:808", "64:ff9b:1::808:808"),
    ],
)
def test_ownership_subject(text: str, owner_subject: str) -> None:
    assert ip_subject_for_owner(text).text == owner_subject


def test_embedded_ipv4_names_the_address_inside_6to4_nat64_and_mapped() -> None:
    assert embedded_ipv4("2002:a00:5::").text == "10.0.0.5"  # type: ignore[union-attr]
    assert embedded_ipv4("64:ff9b::a00:5").text == "10.0.0.5"  # type: ignore[union-attr]
    assert embedded_ipv4("::ffff:a00:5").text == "10.0.0.5"  # type: ignore[union-attr]
    assert embedded_ipv4("2001:db8::1") is None and embedded_ipv4("10.0.0.5") is None


def test_reasons_name_the_block_and_the_embedded_address() -> None:
    assert unreachable_reason("10.1.2.3") == "10.1.2.3 is in 10.0.0.0/8 (Private-Use, RFC 1918), not globally reachable"
    reason = unreachable_reason("64:ff9b::10.0.0.5")
    assert reason is not None and "embeds 10.0.0.5" in reason and "10.0.0.0/8" in reason


@pytest.mark.parametrize(
    ("text", "strict", "lenient"),
    [
        ("192.0.2.1", "192.0.2.1", "192.0.2.1"),
        ("0.0.0.0", "0.0.0.0", "0.0.0.0"),
        ("010.0.0.1", None, "8.0.0.1"),  # octal to inet_aton and browsers
        ("1.2.3", None, "1.2.0.3"),
        ("1.2.3.4.", None, "1.2.3.4"),
        ("0x7f.1", None, "127.0.0.1"),
        ("2130706433", None, "127.0.0.1"),
        ("1.2.3.256", None, None),
        ("256.1.1.1", None, None),
        ("1.2.3.4.5", None, None),
        ("1.2.3.09", None, None),
        (" 1.2.3.4", None, None),
        ("1.2.3.4/32", None, None),
        ("example.com", None, None),
        ("1e3.example", None, None),
        ("", None, None),
        ("١.٢.٣.٤", None, None),  # Arabic-Indic digits are not ASCII digits
        ("::1", "::1", "::1"),
        ("[::1]", None, "::1"),
        ("::1%eth0", None, "::1"),
        ("[fe80::1%25eth0]", None, "fe80::1"),
        ("fe80::1", "fe80::1", "fe80::1"),
        ("FE80::ABCD", "fe80::abcd", "fe80::abcd"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1", "2001:db8::1"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1", "2001:db8::1:0:0:1"),
        ("2001:0:0:1::1", "2001:0:0:1::1", "2001:0:0:1::1"),
        ("::ffff:1.2.3.4", "::ffff:1.2.3.4", "::ffff:1.2.3.4"),
        ("::ffff:0102:0304", "::ffff:1.2.3.4", "::ffff:1.2.3.4"),
        ("::ffff:01.2.3.4", None, None),
        ("1::2::3", None, None),
        ("12345::", None, None),
        (":::", None, None),
    ],
)
def test_ip_literal_detection(text: str, strict: str | None, lenient: str | None) -> None:
    parsed = parse_ip(text)
    assert (parsed.text if parsed else None) == strict
    loose = parse_ip_lenient(text)
    assert (loose.text if loose else None) == lenient


@pytest.mark.parametrize("value", [0, 1, 0xFFFF << 32, 0x20010DB8 << 96, (1 << 128) - 1, 0x1_0000_0000_0001_0000])
def test_ipv6_text_round_trips(value: int) -> None:
    text = format_ipv6(value)
    assert int(ipaddress.IPv6Address(text)) == value
    parsed = parse_ip(text)
    assert parsed is not None and parsed.value == value and parsed.text == text


def test_text_that_is_not_a_literal_is_refused_by_the_rules() -> None:
    with pytest.raises(ValueError):
        is_globally_reachable("1.2.3")
