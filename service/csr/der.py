"""A small strict DER reader: one pass over an encoding, refusing what BER allows and DER forbids.

`cryptography` parses CSRs strictly in most places but does not say *why* a body is refused and
hides a few things a policy service must see (duplicated attributes, duplicated extensions in an
extensionRequest). This reader builds a light tree of offsets in a single pass so the CSR checks
can look at the structure without a second decode; it never copies content.

Rules enforced on every node (X.690 section 10 and 11):
- definite lengths only, in the shortest form, at most 4 length octets;
- tag numbers in the shortest form; no end-of-contents octets;
- universal types other than SEQUENCE and SET are primitive, SEQUENCE and SET are constructed;
- BOOLEAN is 0x00 or 0xFF, INTEGER and ENUMERATED are minimal, NULL is empty,
  OBJECT IDENTIFIER sub-identifiers are minimal, BIT STRING padding bits are zero;
- the elements of every SET are in ascending order of their encodings (DER's SET OF rule).
OCTET STRING and BIT STRING contents are not descended into: they hold keys and extension
values that `cryptography` decodes itself.
"""

from __future__ import annotations

from typing import NamedTuple

SEQUENCE = 0x30
SET = 0x31
BOOLEAN = 0x01
INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
NULL = 0x05
OID = 0x06
ENUMERATED = 0x0A
CONTEXT_0_CONSTRUCTED = 0xA0

_MAX_DEPTH = 40  # a CSR nests about ten deep; this bounds recursion on hostile input
_CONSTRUCTED = 0x20
_CLASS_MASK = 0xC0


class DerError(ValueError):
    """The bytes are not a single, strictly DER-encoded value."""


class Node(NamedTuple):
    """One TLV: its identifier octets as an integer, its offsets, and its parsed children.

    `start` is the first identifier octet, `body` the first content octet, `end` one past the
    last content octet. Primitive nodes and OCTET/BIT STRINGs have no children. A NamedTuple
    rather than a frozen dataclass: a CSR makes dozens of these per request, and tuples are the
    cheapest immutable value to build.
    """

    tag: int
    start: int
    body: int
    end: int
    children: tuple[Node, ...]


def parse_der(data: bytes) -> Node:
    """Parse `data` as exactly one strictly DER-encoded value.

    Raises:
        DerError: truncated, trailing bytes, indefinite or non-minimal lengths, or any other
            encoding DER forbids.
    """
    if not data:
        raise DerError("no data")
    node = _parse(data, 0, len(data), 0)
    if node.end != len(data):
        raise DerError(f"{len(data) - node.end} trailing bytes after the DER value")
    return node


def read_header(data: bytes, pos: int, limit: int) -> tuple[int, int, int]:
    """Read one TLV header at `pos`: return (tag, content start, content end).

    Raises:
        DerError: the header is truncated, not minimal, indefinite, or runs past `limit`.
    """
    if pos >= limit:
        raise DerError("truncated: expected a tag")
    first = data[pos]
    tag = first
    pos += 1
    if first & 0x1F == 0x1F:  # high tag number form
        if pos >= limit or data[pos] == 0x80:
            raise DerError("truncated or non-minimal tag number")
        number = 0
        while True:
            if pos >= limit:
                raise DerError("truncated tag number")
            octet = data[pos]
            pos += 1
            number = (number << 7) | (octet & 0x7F)
            tag = (tag << 8) | octet
            if not octet & 0x80:
                break
            if number > 0xFFFFFF:
                raise DerError("tag number too large")
        if number < 0x1F:
            raise DerError("tag number in long form where the short form fits")
    elif first == 0x00:
        raise DerError("end-of-contents octets (indefinite length) are not DER")
    if pos >= limit:
        raise DerError("truncated: expected a length")
    length = data[pos]
    pos += 1
    if length == 0x80:
        raise DerError("indefinite length is not DER")
    if length & 0x80:
        count = length & 0x7F
        if count > 4:
            raise DerError("length too large")
        if pos + count > limit:
            raise DerError("truncated length")
        if data[pos] == 0:
            raise DerError("length with leading zero octets is not DER")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
        if length < 0x80:
            raise DerError("long-form length where the short form fits is not DER")
    end = pos + length
    if end > limit:
        raise DerError("truncated: a value runs past the end of its container")
    return tag, pos, end


def oid_text(content: bytes) -> str:
    """The dotted form of an OBJECT IDENTIFIER's content octets (already checked minimal)."""
    arcs: list[int] = []
    value = 0
    for octet in content:
        value = (value << 7) | (octet & 0x7F)
        if not octet & 0x80:
            arcs.append(value)
            value = 0
    if not arcs:
        return ""
    first = arcs[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(str(arc) for arc in head + arcs[1:])


def oid_bytes(dotted: str) -> bytes:
    """The content octets of an OBJECT IDENTIFIER, for comparing against encoded ones."""
    arcs = [int(part) for part in dotted.split(".")]
    values = [arcs[0] * 40 + arcs[1], *arcs[2:]]
    out = bytearray()
    for value in values:
        chunk = [value & 0x7F]
        value >>= 7
        while value:
            chunk.append(0x80 | (value & 0x7F))
            value >>= 7
        out.extend(reversed(chunk))
    return bytes(out)


def _parse(data: bytes, pos: int, limit: int, depth: int) -> Node:
    tag, body, end = read_header(data, pos, limit)
    constructed = bool((tag >> (8 * _extra_tag_octets(tag))) & _CONSTRUCTED)
    universal = tag < 0x100 and tag & _CLASS_MASK == 0
    if universal:
        if tag in (SEQUENCE, SET):
            pass
        elif tag in (0x10, 0x11):
            raise DerError("SEQUENCE or SET in primitive form")
        elif constructed:
            raise DerError(f"constructed encoding of universal type {tag & 0x1F} is not DER")
        else:
            _check_primitive(tag, data, body, end)
    if not constructed:
        return Node(tag, pos, body, end, ())
    if depth >= _MAX_DEPTH:
        raise DerError("nested too deeply")
    children: list[Node] = []
    cursor = body
    while cursor < end:
        child = _parse(data, cursor, end, depth + 1)
        children.append(child)
        cursor = child.end
    if tag == SET:
        check_set_order(data, children)
    return Node(tag, pos, body, end, tuple(children))


def check_set_order(data: bytes, children: list[Node] | tuple[Node, ...]) -> None:
    """DER orders the elements of a SET OF by their encodings, ascending.

    Raises:
        DerError: two elements are out of order.
    """
    previous = b""
    for child in children:
        encoding = data[child.start : child.end]
        if encoding < previous:
            raise DerError("SET OF elements are not in DER (sorted) order")
        previous = encoding


def _extra_tag_octets(tag: int) -> int:
    count = 0
    while tag > 0xFF:
        tag >>= 8
        count += 1
    return count


def _check_primitive(tag: int, data: bytes, body: int, end: int) -> None:
    length = end - body
    if tag == BOOLEAN:
        if length != 1 or data[body] not in (0x00, 0xFF):
            raise DerError("BOOLEAN must be one octet, 0x00 or 0xFF")
    elif tag in (INTEGER, ENUMERATED):
        if length == 0:
            raise DerError("empty INTEGER")
        if length > 1 and (
            (data[body] == 0x00 and data[body + 1] < 0x80)
            or (data[body] == 0xFF and data[body + 1] >= 0x80)
        ):
            raise DerError("INTEGER is not minimally encoded")
    elif tag == NULL:
        if length:
            raise DerError("NULL with content")
    elif tag == OID:
        if length == 0 or data[end - 1] & 0x80:
            raise DerError("truncated OBJECT IDENTIFIER")
        at_start = True
        for index in range(body, end):
            octet = data[index]
            if at_start and octet == 0x80:
                raise DerError("OBJECT IDENTIFIER sub-identifier is not minimal")
            at_start = not octet & 0x80
    elif tag == BIT_STRING:
        if length == 0:
            raise DerError("empty BIT STRING")
        unused = data[body]
        if unused > 7 or (length == 1 and unused):
            raise DerError("BIT STRING with a bad unused-bits count")
        if unused and data[end - 1] & ((1 << unused) - 1):
            raise DerError("BIT STRING padding bits are not zero")
