"""Fast, strict CIDR parsing for the owned-range registry (no ipaddress objects per range)."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from typing import Literal

from policies.addresses import format_ipv4, format_ipv6

_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6
_inet_pton = socket.inet_pton
_from_bytes = int.from_bytes
_LEADING_ZERO = re.compile(r"(?:^|\.)0[0-9]")
_V4_HOST = [(1 << (32 - p)) - 1 for p in range(33)]
_V6_HOST = [(1 << (128 - p)) - 1 for p in range(129)]
_PREFIX_TEXT = {str(p): p for p in range(129)}  # exactly the canonical spellings "0".."128"


class InvalidCidr(ValueError):
    """A CIDR that is malformed, has host bits set, or a prefix length out of range."""


@dataclass(frozen=True, slots=True)
class Cidr:
    """An IP prefix: addresses `first`..`last` of family `version`, in canonical `text`."""

    version: Literal[4, 6]
    first: int
    last: int
    prefix_len: int
    text: str

    def __str__(self) -> str:
        return self.text

    def __contains__(self, value: object) -> bool:
        """Whether an integer address of the same family lies in the prefix."""
        return isinstance(value, int) and self.first <= value <= self.last


def _inet_pton_allows_leading_zeros() -> bool:
    """glibc, musl and BSD refuse "01.2.3.4"; guard explicitly on any platform that does not."""
    try:
        _inet_pton(_AF_INET, "01.2.3.4")
    except OSError:
        return False
    return True


_GUARD_ZEROS = _inet_pton_allows_leading_zeros()


def parse_address(text: str) -> tuple[Literal[4, 6], int]:
    """A strict IP literal as (version, integer value).

    Raises:
        InvalidCidr: `text` is not a dotted-quad IPv4 (no leading zeros) or an IPv6 literal.
    """
    try:
        if ":" in text:
            return 6, _from_bytes(_inet_pton(_AF_INET6, text), "big")
        value = _from_bytes(_inet_pton(_AF_INET, text), "big")
    except (OSError, ValueError):
        raise InvalidCidr(f"not an IP address: {text!r}") from None
    if _GUARD_ZEROS and _LEADING_ZERO.search(text):
        raise InvalidCidr(f"IPv4 address with a leading zero (octal?): {text!r}")
    return 4, value


def parse_prefix(text: str) -> tuple[Literal[4, 6], int, int]:
    """A CIDR as (version, first address, prefix length), without building a `Cidr`.

    The bulk-import fast path. A bare address means a single-host prefix (/32 or /128).

    Raises:
        InvalidCidr: malformed text, prefix length out of range or spelled oddly ("/08"),
            or host bits set below the prefix ("10.0.0.1/8").
    """
    address, slash, length = text.partition("/")
    version, value = parse_address(address)
    if version == 4:
        width, host_masks = 32, _V4_HOST
    else:
        width, host_masks = 128, _V6_HOST
    if not slash:
        return version, value, width
    prefix_len = _PREFIX_TEXT.get(length, 255)
    if prefix_len > width:
        raise InvalidCidr(f"prefix length must be 0..{width} in decimal: {text!r}")
    host_bits = host_masks[prefix_len]
    if value & host_bits:
        network = format_prefix(version, value & ~host_bits, prefix_len)
        raise InvalidCidr(f"host bits set in {text!r} (the network is {network})")
    return version, value, prefix_len


def format_prefix(version: int, first: int, prefix_len: int) -> str:
    """Canonical CIDR text: dotted quad, or RFC 5952 IPv6, then /length."""
    address = format_ipv4(first) if version == 4 else format_ipv6(first)
    return f"{address}/{prefix_len}"


def make_cidr(version: Literal[4, 6], first: int, prefix_len: int) -> Cidr:
    """Build a `Cidr` from already validated parts."""
    host_bits = (_V4_HOST if version == 4 else _V6_HOST)[prefix_len]
    return Cidr(version, first, first | host_bits, prefix_len, format_prefix(version, first, prefix_len))


def parse_cidr(text: str) -> Cidr:
    """Parse "a.b.c.d/n" or "x:x::/n" (surrounding whitespace ignored) into a `Cidr`.

    Raises:
        InvalidCidr: see `parse_prefix`.
    """
    version, first, prefix_len = parse_prefix(text.strip())
    return make_cidr(version, first, prefix_len)


def parse_range_line(line: str) -> tuple[Cidr, str] | None:
    """One line of a ranges import file, "CIDR[,owner]"; None for blank lines and # comments.

    The owner is stripped and may be empty. Text after a "#" is a comment.

    Raises:
        InvalidCidr: the CIDR part is invalid.
    """
    fields = parse_range_fields(line)
    if fields is None:
        return None
    version, first, prefix_len, text, owner = fields
    return Cidr(version, first, first | (_V4_HOST if version == 4 else _V6_HOST)[prefix_len], prefix_len, text), owner


def parse_range_fields(line: str) -> tuple[Literal[4, 6], int, int, str, str] | None:
    """`parse_range_line` as plain fields: (version, first, prefix length, canonical text, owner).

    The bulk import's path: no `Cidr` per line, and an IPv4 prefix's canonical text is the text
    given, because a dotted quad that `parse_address` accepts (no leading zeros, each part
    0..255) and a length in `_PREFIX_TEXT` are already spelled canonically
    (`tests/policies/test_cidr.py` holds it to `format_prefix`).

    Raises:
        InvalidCidr: the CIDR part is invalid.
    """
    content = line.split("#", 1)[0].strip()
    if not content:
        return None
    cidr_text, _, owner = content.partition(",")
    cidr_text = cidr_text.strip()
    version, first, prefix_len = parse_prefix(cidr_text)
    if version == 4 and "/" in cidr_text:
        text = cidr_text
    else:
        text = format_prefix(version, first, prefix_len)
    return version, first, prefix_len, text, owner.strip()
