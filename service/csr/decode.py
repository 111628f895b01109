"""Request bodies to DER: PEM (either CSR header, any line ends, text around it) or raw DER."""

from __future__ import annotations

import base64
import binascii
import re

from service.csr.der import CONTEXT_0_CONSTRUCTED, INTEGER, SEQUENCE, DerError, read_header
from service.errors import MalformedCsr

_CSR_LABELS = frozenset({b"CERTIFICATE REQUEST", b"NEW CERTIFICATE REQUEST"})
_CERTIFICATE_LABELS = frozenset({b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE"})
_BEGIN = b"-----BEGIN "
_PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END ([A-Z0-9 ]+)-----", re.DOTALL
)
_WHITESPACE = re.compile(rb"[ \t\r\n]+")

NOT_A_CSR_CERTIFICATE = "this is a certificate, not a CSR"


def decode_csr_body(data: bytes) -> bytes:
    """Return the one DER CSR in a request body (PEM or DER).

    PEM may use `CERTIFICATE REQUEST` or `NEW CERTIFICATE REQUEST` labels, CRLF or LF line ends,
    and text before or after the block (as `openssl req -text` writes). Only the outer framing is
    checked here (one complete TLV, not a certificate); `parse_csr` checks the rest.

    Raises:
        MalformedCsr: empty, neither PEM nor DER, truncated, trailing bytes, bad base64, a
            certificate or key instead of a CSR, several PEM blocks.
    """
    if not data.strip():
        raise MalformedCsr("the body is empty; expected a PEM or DER CSR")
    if data[0] == SEQUENCE and (_BEGIN not in data or _is_one_tlv(data)):
        return _check_framing(data, "DER")
    if _BEGIN in data:
        return _check_framing(_from_pem(data), "PEM")
    raise MalformedCsr("the body is neither a PEM nor a DER CSR")


def _from_pem(data: bytes) -> bytes:
    blocks = list(_PEM_BLOCK.finditer(data))
    if len(blocks) != data.count(_BEGIN):
        raise MalformedCsr("a PEM block has no matching END line (truncated?)")
    labels = [block.group(1) for block in blocks]
    for block in blocks:
        if block.group(1) != block.group(3):
            raise MalformedCsr("a PEM block's BEGIN and END labels differ")
    if any(label in _CERTIFICATE_LABELS for label in labels):
        raise MalformedCsr(NOT_A_CSR_CERTIFICATE)
    if any(b"PRIVATE KEY" in label for label in labels):
        raise MalformedCsr("the body holds a private key; send only the CSR, and keep the key")
    csr_blocks = [block for block in blocks if block.group(1) in _CSR_LABELS]
    if not csr_blocks:
        shown = ", ".join(label.decode("ascii") for label in labels)
        raise MalformedCsr(f"no CERTIFICATE REQUEST PEM block (found: {shown})")
    if len(blocks) > 1:
        raise MalformedCsr("the body holds more than one PEM block; send exactly one CSR")
    text = _WHITESPACE.sub(b"", csr_blocks[0].group(2))
    try:
        der = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedCsr("the PEM block is not valid base64") from exc
    if base64.b64encode(der) != text:  # b64decode lets excess '=' and non-zero pad bits through
        raise MalformedCsr("the PEM block is not canonical base64 (excess padding or stray bits)")
    if not der:
        raise MalformedCsr("the PEM block is empty")
    return der


def _is_one_tlv(data: bytes) -> bool:
    try:
        _, _, end = read_header(data, 0, len(data))
    except DerError:
        return False
    return end == len(data)


def _check_framing(der: bytes, form: str) -> bytes:
    """One complete outer SEQUENCE, and not obviously a certificate."""
    if der[0] != SEQUENCE:
        raise MalformedCsr(f"the {form} content is not a DER CSR")
    try:
        _, body, end = read_header(der, 0, len(der))
        if end != len(der):
            raise MalformedCsr(f"{len(der) - end} trailing bytes after the {form} CSR")
        if _is_certificate(der, body, end):
            raise MalformedCsr(NOT_A_CSR_CERTIFICATE)
    except DerError as exc:
        raise MalformedCsr(f"the {form} CSR is truncated or not DER: {exc}") from exc
    return der


def _is_certificate(der: bytes, body: int, end: int) -> bool:
    """A certificate's TBS starts with [0] version (v3) or has six or more fields (v1).

    A CSR's certificationRequestInfo starts with an INTEGER and has exactly four.
    """
    tag, inner, inner_end = read_header(der, body, end)
    if tag != SEQUENCE or inner == inner_end:
        return False
    first, _, cursor = read_header(der, inner, inner_end)
    if first == CONTEXT_0_CONSTRUCTED:
        return True
    if first != INTEGER:
        return False
    fields = 1
    while cursor < inner_end:
        _, _, cursor = read_header(der, cursor, inner_end)
        fields += 1
    return fields >= 6
