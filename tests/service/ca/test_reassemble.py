"""Reassembling signed DER around a signature made elsewhere: exact round trips, and refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from service.ca.keystore import SigningKey, signature_hash
from service.ca.reassemble import (DerLayoutError, basic_ocsp_of, ocsp_with_responder_key_hash, ocsp_with_signature,
                                   tbs_of, with_signature)

NOW = datetime(2026, 6, 1, tzinfo=UTC)
NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "reassembly test")])


def _cert(key: SigningKey) -> x509.Certificate:
    return (x509.CertificateBuilder().subject_name(NAME).issuer_name(NAME).public_key(key.public_key())
            .serial_number(7).not_valid_before(NOW).not_valid_after(NOW + timedelta(days=1))
            .sign(key, signature_hash(key)))


KEYS = {"p256": lambda: ec.generate_private_key(ec.SECP256R1()),
        "p384": lambda: ec.generate_private_key(ec.SECP384R1()),
        "rsa4096": lambda: rsa.generate_private_key(65537, 4096)}  # a signature longer than 255 octets


@pytest.fixture(params=sorted(KEYS), scope="module")
def signer(request: pytest.FixtureRequest) -> tuple[SigningKey, x509.Certificate]:
    key = KEYS[request.param]()
    return key, _cert(key)


def test_a_certificate_round_trips_and_takes_another_signature(signer: tuple[SigningKey, x509.Certificate]) -> None:
    key, cert = signer
    der = cert.public_bytes(serialization.Encoding.DER)
    assert tbs_of(der) == cert.tbs_certificate_bytes
    assert with_signature(der, cert.signature) == der
    other = _cert(key)  # same TBS but another serial's signature: only the BIT STRING changes
    swapped = x509.load_der_x509_certificate(with_signature(der, other.signature))
    assert swapped.signature == other.signature and swapped.tbs_certificate_bytes == cert.tbs_certificate_bytes


def test_a_crl_round_trips(signer: tuple[SigningKey, x509.Certificate]) -> None:
    key, cert = signer
    entry = x509.RevokedCertificateBuilder().serial_number(9).revocation_date(NOW).build()
    crl = (x509.CertificateRevocationListBuilder().issuer_name(NAME).last_update(NOW)
           .next_update(NOW + timedelta(days=1)).add_revoked_certificate(entry).sign(key, signature_hash(key)))
    der = crl.public_bytes(serialization.Encoding.DER)
    assert tbs_of(der) == crl.tbs_certlist_bytes and with_signature(der, crl.signature) == der


def test_an_ocsp_response_round_trips_and_its_responder_hash_is_replaced_in_place(
        signer: tuple[SigningKey, x509.Certificate]) -> None:
    key, cert = signer
    response = (ocsp.OCSPResponseBuilder()
                .add_response(cert=cert, issuer=cert, algorithm=hashes.SHA1(), cert_status=ocsp.OCSPCertStatus.GOOD,
                              this_update=NOW, next_update=NOW + timedelta(hours=1), revocation_time=None,
                              revocation_reason=None)
                .responder_id(ocsp.OCSPResponderEncoding.HASH, cert).certificates([cert])
                .add_extension(x509.OCSPNonce(b"n" * 16), critical=False).sign(key, signature_hash(key)))
    der = response.public_bytes(serialization.Encoding.DER)
    assert tbs_of(basic_ocsp_of(der)) == response.tbs_response_bytes
    assert ocsp_with_signature(der, response.signature) == der
    assert ocsp_with_responder_key_hash(der, response.responder_key_hash or b"") == der
    moved = ocsp.load_der_ocsp_response(ocsp_with_responder_key_hash(der, b"\x11" * 20))
    assert moved.responder_key_hash == b"\x11" * 20 and moved.certificates == [cert]
    with pytest.raises(DerLayoutError):
        ocsp_with_responder_key_hash(der, b"\x11" * 32)


@pytest.mark.parametrize("junk", [b"", b"\x30", b"\x30\x03\x02\x01\x01", b"\x04\x00", b"\x30\x82\xff\xff\x00",
                                  b"\x1f\x00"])
def test_what_is_not_a_signed_structure_is_refused(junk: bytes) -> None:
    with pytest.raises(DerLayoutError):
        with_signature(junk, b"sig")
    with pytest.raises(DerLayoutError):
        basic_ocsp_of(junk)


def test_trailing_bytes_are_refused(signer: tuple[SigningKey, x509.Certificate]) -> None:
    der = signer[1].public_bytes(serialization.Encoding.DER)
    with pytest.raises(DerLayoutError):
        tbs_of(der + b"\x00")
