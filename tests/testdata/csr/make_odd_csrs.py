"""Craft the odd CSRs committed next to this script: things `openssl req` will not write.

Run from anywhere: `python tests/testdata/csr/make_odd_csrs.py`. Each file is a DER CSR whose
certificationRequestInfo is assembled by hand and then signed for real (ECDSA P-256, SHA-256),
so the oddity under test is the only thing wrong with it. Keys are fresh on every run; the tests
check outcomes, not bytes. Files for key types that cannot sign (X25519, GOST, an unknown curve)
carry a P-256 signature: the key-type check refuses them before any signature is verified.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, x25519
from cryptography.x509.oid import NameOID

HERE = Path(__file__).parent
SIGNER = ec.generate_private_key(ec.SECP256R1())

SEQUENCE, SET, BOOLEAN, INTEGER, BIT_STRING, OCTET_STRING, NULL, OID = (
    0x30, 0x31, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
)
ECDSA_SHA256 = "1.2.840.10045.4.3.2"
EXTENSION_REQUEST = "1.2.840.113549.1.9.14"
CHALLENGE_PASSWORD = "1.2.840.113549.1.9.7"
SUBJECT_ALT_NAME = "2.5.29.17"
KEY_USAGE = "2.5.29.15"


def length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def tlv(tag: int, *content: bytes) -> bytes:
    body = b"".join(content)
    return bytes([tag]) + length(len(body)) + body


def oid(dotted: str) -> bytes:
    arcs = [int(part) for part in dotted.split(".")]
    out = bytearray()
    for value in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [value & 0x7F]
        value >>= 7
        while value:
            chunk.append(0x80 | (value & 0x7F))
            value >>= 7
        out.extend(reversed(chunk))
    return tlv(OID, bytes(out))


def name(common_name: str = "odd.example") -> bytes:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]).public_bytes()


def signer_spki() -> bytes:
    return SIGNER.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def san(*dns: str) -> bytes:
    value = x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]).public_bytes()
    return tlv(SEQUENCE, oid(SUBJECT_ALT_NAME), tlv(OCTET_STRING, value))


def key_usage_critical_false() -> bytes:
    value = tlv(BIT_STRING, b"\x07\x80")  # digitalSignature
    return tlv(SEQUENCE, oid(KEY_USAGE), tlv(BOOLEAN, b"\x00"), tlv(OCTET_STRING, value))


def extension_request(*extensions: bytes) -> bytes:
    return tlv(SEQUENCE, oid(EXTENSION_REQUEST), tlv(SET, tlv(SEQUENCE, *extensions)))


def challenge(password: str) -> bytes:
    return tlv(SEQUENCE, oid(CHALLENGE_PASSWORD), tlv(SET, tlv(0x0C, password.encode())))


def attributes(*items: bytes, sort: bool = True) -> bytes:
    return tlv(0xA0, *(sorted(items) if sort else items))


def info(
    *, version: bytes = b"\x00", subject: bytes | None = None, spki: bytes | None = None,
    attrs: bytes | None = None,
) -> bytes:
    return tlv(
        SEQUENCE,
        tlv(INTEGER, version),
        subject if subject is not None else name(),
        spki if spki is not None else signer_spki(),
        attrs if attrs is not None else attributes(extension_request(san("odd.example"))),
    )


def signed(cri: bytes) -> bytes:
    signature = SIGNER.sign(cri, ec.ECDSA(hashes.SHA256()))
    return tlv(SEQUENCE, cri, tlv(SEQUENCE, oid(ECDSA_SHA256)), tlv(BIT_STRING, b"\x00" + signature))


def spki(algorithm: bytes, key: bytes) -> bytes:
    return tlv(SEQUENCE, tlv(SEQUENCE, algorithm), tlv(BIT_STRING, b"\x00" + key))


def non_minimal_length_cri() -> bytes:
    """The subject Name's length in long form (0x81 NN) where the short form fits."""
    subject = name()
    assert subject[1] < 0x80
    return info(subject=bytes([subject[0], 0x81, subject[1]]) + subject[2:])


def indefinite_length_cri() -> bytes:
    """BER: the subject Name with an indefinite length and end-of-contents octets."""
    subject = name()
    return info(subject=bytes([subject[0], 0x80]) + subject[2:] + b"\x00\x00")


def x25519_spki() -> bytes:
    return x25519.X25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def point() -> bytes:
    return SIGNER.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


ODD_CSRS: dict[str, Callable[[], bytes]] = {
    "duplicate_extension.der": lambda: info(
        attrs=attributes(extension_request(san("a.example"), san("b.example")))
    ),
    "two_extension_requests.der": lambda: info(
        attrs=attributes(
            extension_request(san("a.example")), extension_request(san("b.example"))
        )
    ),
    "duplicate_attribute.der": lambda: info(
        attrs=attributes(challenge("one"), challenge("two"), extension_request(san("a.example")))
    ),
    "version_2.der": lambda: info(version=b"\x01"),
    "non_minimal_length.der": non_minimal_length_cri,
    "indefinite_length.der": indefinite_length_cri,
    "unsorted_attributes.der": lambda: info(
        attrs=attributes(
            *sorted([challenge("secret"), extension_request(san("a.example"))], reverse=True),
            sort=False,
        )
    ),
    "critical_false_encoded.der": lambda: info(
        attrs=attributes(extension_request(san("a.example"), key_usage_critical_false()))
    ),
    "rsa_absent_params.der": lambda: info(
        spki=spki(oid("1.2.840.113549.1.1.1"), tlv(SEQUENCE, tlv(INTEGER, b"\x00\xc5" * 128),
                                                   tlv(INTEGER, b"\x01\x00\x01")))
    ),
    "ec_implicit_ca.der": lambda: info(
        spki=spki(oid("1.2.840.10045.2.1") + tlv(NULL, b""), point())
    ),
    "ec_unknown_named_curve.der": lambda: info(
        spki=spki(oid("1.2.840.10045.2.1") + oid("1.3.6.1.4.1.55555.1"), point())
    ),
    "ed25519_with_params.der": lambda: info(
        spki=spki(oid("1.3.101.112") + tlv(NULL, b""), bytes(32))
    ),
    "x25519_key.der": lambda: info(spki=x25519_spki()),
    "gost2012_key.der": lambda: info(
        spki=spki(
            oid("1.2.643.7.1.1.1.1")
            + tlv(SEQUENCE, oid("1.2.643.7.1.2.1.1.1"), oid("1.2.643.7.1.1.2.2")),
            tlv(OCTET_STRING, bytes(64)),
        )
    ),
}


def main() -> None:
    for filename, build in ODD_CSRS.items():
        (HERE / filename).write_bytes(signed(build()))
        print(filename)


if __name__ == "__main__":
    main()
