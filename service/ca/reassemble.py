"""Putting a signature made elsewhere into a signed X.509 structure's DER, and taking its TBS out.

Certificate, CertificateList and BasicOCSPResponse share one shape (RFC 5280 §4.1, §5.1,
RFC 6960 §4.2.1): SEQUENCE { tbs, signatureAlgorithm, signatureValue BIT STRING, [extras] }.
A structure signed by a throwaway key of the same algorithm already has the right tbs and
algorithm identifier; only the BIT STRING changes. DER is read just far enough to find these
elements; `cryptography` parses the result again before anyone uses it.
"""

from __future__ import annotations

_SEQUENCE, _BIT_STRING, _OCTET_STRING, _EXPLICIT_0, _BY_KEY = 0x30, 0x03, 0x04, 0xA0, 0xA2


class DerLayoutError(ValueError):
    """The bytes are not the signed structure they were expected to be."""


def _element(data: bytes, offset: int) -> tuple[int, int, int]:
    """(tag, content start, end) of the DER element at `offset` (definite lengths only).

    Raises:
        DerLayoutError: truncated or a multi-byte tag, which these structures never use.
    """
    if offset + 2 > len(data):
        raise DerLayoutError("truncated DER")
    tag, first = data[offset], data[offset + 1]
    if tag & 0x1F == 0x1F:
        raise DerLayoutError("unexpected multi-byte tag")
    start = offset + 2
    length = first
    if first & 0x80:
        count = first & 0x7F
        if count == 0 or count > 4 or start + count > len(data):
            raise DerLayoutError("bad DER length")
        length = int.from_bytes(data[start:start + count], "big")
        start += count
    end = start + length
    if end > len(data):
        raise DerLayoutError("truncated DER")
    return tag, start, end


def _encode(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes((tag, size)) + content
    octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(octets))) + octets + content


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    """(tag, element start, element end) of each element inside [start, end)."""
    out = []
    offset = start
    while offset < end:
        tag, _, element_end = _element(data, offset)
        out.append((tag, offset, element_end))
        offset = element_end
    return out


def _signed_parts(der: bytes) -> list[tuple[int, int, int]]:
    tag, start, end = _element(der, 0)
    if tag != _SEQUENCE or end != len(der):
        raise DerLayoutError("not one DER SEQUENCE")
    parts = _children(der, start, end)
    if len(parts) < 3 or parts[0][0] != _SEQUENCE or parts[1][0] != _SEQUENCE or parts[2][0] != _BIT_STRING:
        raise DerLayoutError("not a signed structure (tbs, algorithm, signature)")
    return parts


def tbs_of(signed_der: bytes) -> bytes:
    """The to-be-signed element (its full DER) of a Certificate, CertificateList or BasicOCSPResponse.

    Raises:
        DerLayoutError: not such a structure.
    """
    _, start, end = _signed_parts(signed_der)[0]
    return signed_der[start:end]


def with_signature(signed_der: bytes, signature: bytes) -> bytes:
    """`signed_der` with its signatureValue replaced by `signature` (everything else kept).

    Raises:
        DerLayoutError: not such a structure.
    """
    parts = _signed_parts(signed_der)
    body = b"".join(signed_der[s:e] for _, s, e in parts[:2])
    body += _encode(_BIT_STRING, b"\x00" + signature)
    body += b"".join(signed_der[s:e] for _, s, e in parts[3:])
    return _encode(_SEQUENCE, body)


def basic_ocsp_of(response_der: bytes) -> bytes:
    """The BasicOCSPResponse inside a successful OCSPResponse (RFC 6960 §4.2.1).

    Raises:
        DerLayoutError: not a successful OCSPResponse.
    """
    return response_der[slice(*_basic_ocsp_span(response_der))]


def _basic_ocsp_span(response_der: bytes) -> tuple[int, int]:
    tag, start, end = _element(response_der, 0)
    if tag != _SEQUENCE or end != len(response_der):
        raise DerLayoutError("not one DER SEQUENCE")
    parts = _children(response_der, start, end)
    if len(parts) != 2 or parts[1][0] != _EXPLICIT_0:
        raise DerLayoutError("not a successful OCSPResponse")
    _, inner_start, inner_end = _element(response_der, parts[1][1])
    _, bytes_start, bytes_end = _element(response_der, inner_start)  # ResponseBytes SEQUENCE
    fields = _children(response_der, bytes_start, bytes_end)
    if len(fields) != 2 or fields[1][0] != _OCTET_STRING:
        raise DerLayoutError("ResponseBytes without its OCTET STRING")
    _, octets_start, octets_end = _element(response_der, fields[1][1])
    return octets_start, octets_end


def ocsp_with_signature(response_der: bytes, signature: bytes) -> bytes:
    """A successful OCSPResponse with the BasicOCSPResponse's signature replaced.

    Raises:
        DerLayoutError: not a successful OCSPResponse.
    """
    tag, start, end = _element(response_der, 0)
    status = response_der[start:_element(response_der, start)[2]]
    _, explicit_start, _ = _element(response_der, _element(response_der, start)[2])
    _, bytes_start, bytes_end = _element(response_der, explicit_start)
    response_type = response_der[bytes_start:_element(response_der, bytes_start)[2]]
    octets_start, octets_end = _basic_ocsp_span(response_der)
    basic = with_signature(response_der[octets_start:octets_end], signature)
    response_bytes = _encode(_SEQUENCE, response_type + _encode(_OCTET_STRING, basic))
    return _encode(_SEQUENCE, status + _encode(_EXPLICIT_0, response_bytes))


def ocsp_with_responder_key_hash(response_der: bytes, key_hash: bytes) -> bytes:
    """A successful OCSPResponse whose ResponderID byKey (RFC 6960 §4.2.1) is `key_hash` instead.

    The draft names a throwaway responder (`cryptography` insists that the responder certificate
    matches the signing key); the SHA-1 key hashes have the same length, so nothing moves.

    Raises:
        DerLayoutError: not a successful OCSPResponse naming its responder by key hash.
    """
    octets_start, _ = _basic_ocsp_span(response_der)
    _, tbs_start, tbs_end = _element(response_der, _element(response_der, octets_start)[1])
    for tag, start, _end in _children(response_der, tbs_start, tbs_end):
        if tag == _BY_KEY:
            _, inner_start, _ = _element(response_der, start)
            octet_tag, hash_start, hash_end = _element(response_der, inner_start)
            if octet_tag != _OCTET_STRING or hash_end - hash_start != len(key_hash):
                raise DerLayoutError("the responder key hash is not a SHA-1 OCTET STRING")
            return response_der[:hash_start] + key_hash + response_der[hash_end:]
    raise DerLayoutError("the OCSP response does not name its responder by key hash")
