"""Hypothesis fuzzing of CSR intake through the API: mutated DER and PEM CSRs, raw and in JSON.

Every answer must be 400 or 422, or 201/202 when the mutation left a CSR that really verifies;
never a 5xx. Bytes that are not a verifiable CSR (400, or 422 `csr_signature_invalid`) leave no
row behind; a policy refusal (other 422s) leaves only a `rejected` request and its audit events.
"""

from __future__ import annotations

import base64
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.db.models import CertificateRequest
from service.process.runtime import Runtime
from tests.api.helpers import row_counts
from tests.conftest import bearer
from tests.factories import csr_pem, key

EXAMPLES = 200
UNVERIFIABLE = {"malformed_csr", "csr_signature_invalid"}


@dataclass(frozen=True)
class Tlv:
    """One DER element: where its header starts, where its content starts, how long the content is."""

    start: int
    content: int
    length: int
    constructed: bool


def walk(der: bytes, start: int = 0, end: int | None = None) -> Iterator[Tlv]:
    """Every TLV in `der`, outermost first, descending into constructed ones (definite lengths only)."""
    end = len(der) if end is None else end
    at = start
    while at + 2 <= end:
        tag, first = der[at], der[at + 1]
        header = 2
        if first & 0x80:
            count = first & 0x7F
            if count == 0 or at + 2 + count > end:
                return
            length = int.from_bytes(der[at + 2:at + 2 + count], "big")
            header += count
        else:
            length = first
        content = at + header
        if content + length > end:
            return
        tlv = Tlv(at, content, length, bool(tag & 0x20))
        yield tlv
        if tlv.constructed:
            yield from walk(der, content, content + length)
        at = content + length


def encode_length(length: int, *, pad: int = 0) -> bytes:
    """DER length octets; `pad` > 0 adds leading zero octets (a non-minimal, BER-only form)."""
    if length < 0x80 and not pad:
        return bytes([length])
    body = length.to_bytes(max(1, (length.bit_length() + 7) // 8), "big")
    body = b"\x00" * pad + body
    return bytes([0x80 | len(body)]) + body


# --- mutations -----------------------------------------------------------------------------------

@st.composite
def mutate_der(draw: st.DrawFn, der: bytes) -> tuple[str, bytes]:
    """One structural or byte-level mutation of a DER CSR, with a name for the failure report."""
    data = bytearray(der)
    kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "swap", "tlv_length", "tlv_form", "tag"]))
    pos = draw(st.integers(0, len(data) - 1))
    if kind == "flip":
        data[pos] ^= 1 << draw(st.integers(0, 7))
    elif kind == "truncate":
        del data[pos:]
    elif kind == "insert":
        data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
    elif kind == "delete":
        del data[pos:pos + draw(st.integers(1, 8))]
    elif kind == "swap":
        other = draw(st.integers(0, len(data) - 1))
        data[pos], data[other] = data[other], data[pos]
    else:
        tlv = draw(st.sampled_from(list(walk(der))))
        if kind == "tlv_length":
            delta = draw(st.sampled_from([-3, -2, -1, 1, 2, 3, 200, 70000, -tlv.length]))
            new = encode_length(max(0, tlv.length + delta))
        elif kind == "tlv_form":  # same length, other encodings: non-minimal long form or indefinite
            new = draw(st.sampled_from([encode_length(tlv.length, pad=1), encode_length(tlv.length, pad=3), b"\x80"]))
        else:
            data[tlv.start] = draw(st.integers(0, 255))
            return f"{kind}@{tlv.start}", bytes(data)
        data[tlv.start + 1:tlv.content] = new
        return f"{kind}@{tlv.start}:{new.hex()}", bytes(data)
    return f"{kind}@{pos}", bytes(data)


def pem_of(der: bytes) -> bytes:
    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64))
    return f"-----BEGIN CERTIFICATE REQUEST-----\n{body}\n-----END CERTIFICATE REQUEST-----\n".encode()


@st.composite
def mutate_pem(draw: st.DrawFn, der: bytes) -> tuple[str, bytes]:
    """A text-level mutation of the PEM armour or its base64."""
    text = bytearray(pem_of(der))
    kind = draw(st.sampled_from(["char", "drop_line", "header", "padding", "garbage_after", "two_blocks"]))
    if kind == "char":
        pos = draw(st.integers(0, len(text) - 1))
        text[pos] = draw(st.sampled_from(b"A/+=-\n \x00\xff"))
    elif kind == "drop_line":
        lines = bytes(text).split(b"\n")
        del lines[draw(st.integers(1, max(1, len(lines) - 3)))]
        text = bytearray(b"\n".join(lines))
    elif kind == "header":
        text = bytearray(bytes(text).replace(b"CERTIFICATE REQUEST", draw(st.sampled_from([b"NEW CERTIFICATE REQUEST", b"CERTIFICATE", b"X"])), 1))
    elif kind == "padding":
        text = bytearray(bytes(text).replace(b"\n-----END", b"==\n-----END"))
    elif kind == "garbage_after":
        text += draw(st.binary(min_size=1, max_size=40))
    else:
        text += pem_of(der)
    return kind, bytes(text)


# --- the test ------------------------------------------------------------------------------------

@pytest.fixture
def bases() -> list[bytes]:
    """Valid DER CSRs: compliant (201), naming an IP nobody owns (202), RSA, and an empty-subject SAN-only one."""
    pems = [csr_pem(cn="fuzz.example.com", dns=["fuzz.example.com"]), csr_pem(ips=["9.9.9.9"]),
            csr_pem(private_key=key("rsa2048"), dns=["rsa.example.com"]), csr_pem(cn=None, dns=["acme.example.com"])]
    return [x509.load_pem_x509_csr(p).public_bytes(Encoding.DER) for p in pems]


def stored_csr(runtime: Runtime, request_id: str) -> x509.CertificateSigningRequest:
    """The CSR the server stored for a request."""
    with runtime.db.read() as session:
        row = session.get(CertificateRequest, request_id)
        assert row is not None
        return x509.load_pem_x509_csr(row.csr_pem.encode())


def test_mutated_csrs_never_crash_or_leave_rows(client: FlaskClient, tokens: dict[str, str], runtime: Runtime,
                                                bases: list[bytes]) -> None:
    headers = bearer(tokens["requester"])
    outcomes: dict[int, int] = {}

    @given(data=st.data())
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(data: st.DataObject) -> None:
        der = data.draw(st.sampled_from(bases), label="base")
        transport = data.draw(st.sampled_from(["der", "pem", "json"]), label="transport")
        if transport == "der":
            name, body = data.draw(mutate_der(der), label="mutation")
        else:
            name, body = data.draw(st.one_of(mutate_der(der).map(lambda m: (m[0], pem_of(m[1]))), mutate_pem(der)),
                                   label="mutation")
        before = row_counts(runtime)
        if transport == "json":
            response = client.post("/api/v1/requests", json={"csr": body.decode("latin-1")}, headers=headers)
        else:
            response = client.post("/api/v1/requests", data=body, content_type="application/pkcs10", headers=headers)
        after = row_counts(runtime)
        status = response.status_code
        outcomes[status] = outcomes.get(status, 0) + 1
        answer: Any = response.get_json()
        assert status in (201, 202, 400, 422), (name, status, answer)
        if status in (201, 202):
            # Accepted: the CSR the server stored verifies, and is the unmutated one (a change that kept
            # a verifying signature would be a forgery; a re-encoding would break strict DER).
            csr = stored_csr(runtime, answer["id"])
            assert csr.is_signature_valid and csr.public_bytes(Encoding.DER) == der, name
            assert after["requests"] == before["requests"] + 1
            if status == 201:
                cert = x509.load_pem_x509_certificate(answer["certificate"]["pem"].encode())
                spki = PublicFormat.SubjectPublicKeyInfo
                assert cert.public_key().public_bytes(Encoding.DER, spki) == csr.public_key().public_bytes(Encoding.DER, spki)
            return
        error = answer["error"]
        if "request_id" in error:  # a policy refusal of a CSR that verified: stored as rejected, nothing issued
            assert status == 422 and error["code"] not in UNVERIFIABLE, (name, error)
            assert after["requests"] == before["requests"] + 1 and after["certificates"] == before["certificates"]
        else:  # not a verifiable CSR, or a key that cannot be judged at all: nothing written
            assert after == before, (name, status, error)

    run()
    assert outcomes.get(400, 0) > 0 and outcomes.get(422, 0) > 0, outcomes


def test_pem_with_excess_base64_padding_is_malformed(client: FlaskClient, tokens: dict[str, str], runtime: Runtime) -> None:
    """Found by the fuzzer: `b64decode` ignored '==' after a full quantum, so such PEM was issued."""
    from cryptography import x509 as _x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from tests.factories import csr_pem

    # A CSR whose DER length is a multiple of 3 has no padding; vary the name until one does.
    for n in range(1, 60):
        der = _x509.load_pem_x509_csr(csr_pem(cn="p" * n + ".example.com")).public_bytes(Encoding.DER)
        if len(der) % 3 == 0:
            break
    text = pem_of(der)
    assert text.count(b"=") == 0
    text = text.replace(b"\n-----END", b"==\n-----END")
    before = row_counts(runtime)
    response = client.post("/api/v1/requests", data=text, content_type="application/pkcs10",
                           headers=bearer(tokens["requester"]))
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "malformed_csr"
    assert row_counts(runtime) == before
