"""IP literals and whether an address may be named in a certificate (IANA special-purpose rules).

Why our own table: `ipaddress.is_global` / `is_private` have changed meaning between Python
releases (3.11.10, 3.12.4 and 3.13 each fixed rows) and still trail the registry (2001:1::3/128,
100:0:0:1::/64, 192.88.99.2/32), so the verdict of a certificate policy would depend on the
interpreter. `ipaddress` is only used to parse IPv6 text.

Rules (each a deliberate choice, tested in tests/policies/test_addresses.py):

1. An address inside no listed block is globally reachable. Otherwise the MOST SPECIFIC block
   decides, so 192.0.0.9/32 (PCP anycast) is reachable inside the unreachable 192.0.0.0/24 and
   2001:3::/32 (AMT) inside 2001::/23.
2. Where the registry says N/A or has no value (2002::/16 6to4, 2001::/32 Teredo,
   192.88.99.0/24 and 2001:10::/28, both terminated) we answer False: nobody can prove they hold
   such an address; 6to4 and Teredo addresses are derived from an IPv4 address and a tunnel that
   may change hands, and RFC 7526 deprecated the 6to4 relay. The exception queue remains.
3. IPv4-mapped IPv6 (::ffff:a.b.c.d) is judged as a.b.c.d: it is the same host on the wire.
4. NAT64 well-known prefix 64:ff9b::/96 is reachable only when the embedded IPv4 (last 32 bits)
   is: RFC 6052 section 3.1 forbids using it for non-global IPv4, so 64:ff9b::10.0.0.5 is refused.
   64:ff9b:1::/48 (local-use, RFC 8215) is refused as the registry says.
5. Multicast (224.0.0.0/4, ff00::/8) and IPv6 space outside 2000::/3 that IANA keeps "Reserved
   by IETF" (IPv6 Address Space registry, e.g. 4000::/3, fec0::/10) are refused: no unicast
   holder exists. This follows the older CA/Browser Forum definition of a Reserved IP Address.

Note that the current Baseline Requirements call EVERY address inside a registry block
"reserved", even the globally reachable ones (AS112, AMT, PCP anycast); `special_block` returns
the block so a stricter policy can refuse those too.

IP literals: `parse_ip` is strict (what a certificate should contain); `parse_ip_lenient`
finds addresses a lenient client would read out of a name ("010.0.0.1" is 8.0.0.1 to a browser).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Literal

from policies import special_purpose as sp

_V4_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_V4_STRICT = re.compile(rf"{_V4_OCTET}(?:\.{_V4_OCTET}){{3}}")
_V6_CHARS = frozenset("0123456789abcdefABCDEF:.")
_MAPPED_PREFIX = 0xFFFF << 32
_NAT64_WKP = 0x0064_FF9B << 96
_V4_MASK = 0xFFFF_FFFF


@dataclass(frozen=True)
class IpAddress:
    """An IP address: `version` 4 or 6, its integer `value`, and normalised `text`.

    IPv6 text is RFC 5952 (lowercase, longest zero run compressed); IPv4-mapped addresses are
    written ::ffff:a.b.c.d on every Python version.
    """

    version: Literal[4, 6]
    value: int
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class SpecialBlock:
    """A registry row: `globally_reachable` is our verdict, `registry_reachable` IANA's cell."""

    cidr: str
    name: str
    rfc: str
    globally_reachable: bool
    registry_reachable: bool | None
    registry: str
    version: Literal[4, 6]
    first: int
    last: int
    prefix_len: int


def format_ipv4(value: int) -> str:
    """Dotted-quad text of a 32-bit integer."""
    return f"{value >> 24}.{(value >> 16) & 255}.{(value >> 8) & 255}.{value & 255}"


def format_ipv6(value: int) -> str:
    """RFC 5952 text of a 128-bit integer (IPv4-mapped addresses in mixed notation)."""
    if value >> 32 == 0xFFFF:
        return "::ffff:" + format_ipv4(value & _V4_MASK)
    words = [(value >> (112 - 16 * i)) & 0xFFFF for i in range(8)]
    best_at, best_len, run_at, run_len = -1, 1, 0, 0  # a single zero word is not compressed
    for i, word in enumerate(words):
        if word == 0:
            run_at, run_len = (run_at, run_len + 1) if run_len else (i, 1)
            if run_len > best_len:
                best_at, best_len = run_at, run_len
        else:
            run_len = 0
    hexes = [f"{w:x}" for w in words]
    if best_at < 0:
        return ":".join(hexes)
    return ":".join(hexes[:best_at]) + "::" + ":".join(hexes[best_at + best_len :])


def ipv4(value: int) -> IpAddress:
    """The IPv4 address with this integer value."""
    return IpAddress(4, value, format_ipv4(value))


def ipv6(value: int) -> IpAddress:
    """The IPv6 address with this integer value."""
    return IpAddress(6, value, format_ipv6(value))


def parse_ip(text: str) -> IpAddress | None:
    """Parse a strict IP literal, or return None when `text` is not one.

    Accepted: dotted-quad IPv4 without leading zeros, and IPv6 in any RFC 4291 form (any case,
    embedded IPv4 allowed). Refused (None): surrounding spaces, brackets, zone ids ("fe80::1%eth0"),
    shortened or octal IPv4 ("1.2.3", "010.0.0.1"), CIDR suffixes.
    """
    if _V4_STRICT.fullmatch(text):
        a, b, c, d = (int(part) for part in text.split("."))
        return ipv4((a << 24) | (b << 16) | (c << 8) | d)
    if ":" not in text or not _V6_CHARS.issuperset(text):
        return None
    try:
        value = int(ipaddress.IPv6Address(text))
    except ValueError:
        return None
    return ipv6(value)


def parse_ip_lenient(text: str) -> IpAddress | None:
    """The address a lenient client could take `text` for, or None.

    Beyond `parse_ip`: "[v6]" brackets, "%zone" suffixes, a trailing dot, and the WHATWG URL
    IPv4 forms (fewer than four parts, octal "010", hex "0x7f") that browsers and inet_aton
    accept. Use it on commonName and dNSName values so an IP cannot hide behind odd spelling.
    """
    strict = parse_ip(text)
    if strict is not None:
        return strict
    inner = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    if ":" in inner:
        return parse_ip(inner.split("%", 1)[0])
    return _parse_whatwg_ipv4(inner)


def _parse_whatwg_ipv4(text: str) -> IpAddress | None:
    """The WHATWG URL Standard's IPv4 parser (section 3.5), None where it fails."""
    parts = text.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()
    if not parts or len(parts) > 4:
        return None
    numbers: list[int] = []
    for part in parts:
        number = _whatwg_number(part)
        if number is None:
            return None
        numbers.append(number)
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        return None
    value = numbers[-1]
    for i, number in enumerate(numbers[:-1]):
        value += number << (8 * (3 - i))
    return ipv4(value)


def _whatwg_number(part: str) -> int | None:
    """One IPv4 part in decimal, 0-prefixed octal or 0x-prefixed hex; None if it is not one."""
    if not part or not part.isascii():
        return None
    digits, base = part, 10
    if part[:2] in ("0x", "0X"):
        digits, base = part[2:], 16
    elif len(part) > 1 and part[0] == "0":
        digits, base = part[1:], 8
    if digits == "":
        return 0
    try:
        return int(digits, base) if digits.isalnum() else None
    except ValueError:
        return None


def _row_blocks(version: Literal[4, 6], registry: str, rows: tuple[sp.Row, ...]) -> list[SpecialBlock]:
    """Turn registry rows into blocks, checking each CIDR once at import time."""
    blocks = []
    for cidr, name, rfc, reachable in rows:
        network = ipaddress.ip_network(cidr)  # strict: raises if a row has host bits set
        blocks.append(
            SpecialBlock(
                cidr=cidr, name=name, rfc=rfc, globally_reachable=bool(reachable),
                registry_reachable=reachable, registry=registry, version=version,
                first=int(network.network_address), last=int(network.broadcast_address),
                prefix_len=network.prefixlen,
            )
        )
    return blocks


_BLOCKS: dict[int, tuple[SpecialBlock, ...]] = {
    4: tuple(
        _row_blocks(4, sp.IPV4_SPECIAL, sp.IPV4_SPECIAL_ROWS)
        + _row_blocks(4, sp.IPV4_SPACE, sp.IPV4_SPACE_ROWS)
    ),
    6: tuple(
        _row_blocks(6, sp.IPV6_SPECIAL, sp.IPV6_SPECIAL_ROWS)
        + _row_blocks(6, sp.IPV6_SPACE, sp.IPV6_SPACE_ROWS)
    ),
}
# Longest prefix first, so the first block that contains an address is the most specific.
_BY_SPECIFICITY = {v: sorted(b, key=lambda blk: -blk.prefix_len) for v, b in _BLOCKS.items()}


def all_blocks() -> tuple[SpecialBlock, ...]:
    """Every block certgate knows, IPv4 first, in registry order."""
    return _BLOCKS[4] + _BLOCKS[6]


def _coerce(ip: IpAddress | str) -> IpAddress:
    """Accept parsed addresses or strict literal text."""
    if isinstance(ip, IpAddress):
        return ip
    parsed = parse_ip(ip)
    if parsed is None:
        raise ValueError(f"not an IP address literal: {ip!r}")
    return parsed


def special_block(ip: IpAddress | str) -> SpecialBlock | None:
    """The most specific registry block containing `ip`, or None for ordinary address space.

    Raises:
        ValueError: `ip` is text that is not a strict IP literal.
    """
    address = _coerce(ip)
    for block in _BY_SPECIFICITY[address.version]:
        if block.first <= address.value <= block.last:
            return block
    return None


def embedded_ipv4(ip: IpAddress | str) -> IpAddress | None:
    """The IPv4 address inside an IPv4-mapped, NAT64 well-known-prefix or 6to4 address.

    Raises:
        ValueError: `ip` is text that is not a strict IP literal.
    """
    address = _coerce(ip)
    if address.version != 6:
        return None
    value = address.value
    if value >> 32 in (_MAPPED_PREFIX >> 32, _NAT64_WKP >> 32):
        return ipv4(value & _V4_MASK)
    if value >> 112 == 0x2002:
        return ipv4((value >> 80) & _V4_MASK)
    return None


def ip_subject_for_owner(ip: IpAddress | str) -> IpAddress:
    """The address whose ownership is checked: the IPv4 one for ::ffff:0:0/96 and 64:ff9b::/96.

    A NAT64 well-known-prefix address is a translation of the same IPv4 destination and
    64:ff9b::/96 itself belongs to nobody, so the IPv4 holder is the owner. 6to4 addresses are
    not translated: they are refused as not globally reachable (rule 2) before ownership matters.

    Raises:
        ValueError: `ip` is text that is not a strict IP literal.
    """
    address = _coerce(ip)
    if address.version == 6 and address.value >> 32 in (_MAPPED_PREFIX >> 32, _NAT64_WKP >> 32):
        return ipv4(address.value & _V4_MASK)
    return address


def is_globally_reachable(ip: IpAddress | str) -> bool:
    """Whether a certificate may name `ip` as far as address space goes (rules in module text).

    Raises:
        ValueError: `ip` is text that is not a strict IP literal.
    """
    return unreachable_reason(ip) is None


def unreachable_reason(ip: IpAddress | str) -> str | None:
    """Why `ip` is not globally reachable, for a finding's message; None when it is.

    Raises:
        ValueError: `ip` is text that is not a strict IP literal.
    """
    address = _coerce(ip)
    subject = ip_subject_for_owner(address)
    if subject is not address:
        inner = unreachable_reason(subject)
        if inner is None:
            return None
        return f"{address.text} embeds {subject.text}: {inner}"
    block = special_block(address)
    if block is None or block.globally_reachable:
        return None
    return f"{address.text} is in {block.cidr} ({block.name}, {block.rfc}), not globally reachable"
