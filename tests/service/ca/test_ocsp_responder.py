"""The delegated responder's certificate, its rotation, and the signed-answer cache."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID
from revocation_pki import Pki, make_pki, openssl, pem, pkilint

from service.ca.crl import RevocationReason
from service.ca.ocsp import CertStatusAnswer, OcspQuery, parse_ocsp_request
from service.ca.ocsp_responder import (
    OcspResponseCache,
    create_ocsp_responder,
    responder_needs_rotation,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
VALIDITY = timedelta(hours=12)


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki("p256", NOW)


@pytest.mark.parametrize("key_type", ["p256", "p384", "rsa2048"])
def test_responder_certificate_profile(key_type: str, tmp_path: Path) -> None:
    pki = make_pki(key_type, NOW)
    cert, key = create_ocsp_responder(pki.issuing_cert, pki.issuing_key, NOW)

    cert.verify_directly_issued_by(pki.issuing_cert)
    assert cert.public_key() == key.public_key()
    issuer_key = pki.issuing_key
    if isinstance(issuer_key, ec.EllipticCurvePrivateKey):
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        assert key.curve.name == issuer_key.curve.name
    else:
        assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == issuer_key.key_size
    ext = cert.extensions
    basic = ext.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca is False
    usage = ext.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature
    assert not (usage.value.key_cert_sign or usage.value.crl_sign)
    eku = ext.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.OCSP_SIGNING]
    assert ext.get_extension_for_class(x509.OCSPNoCheck)
    aki = ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    issuer_ski = pki.issuing_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert aki.key_identifier == issuer_ski.value.digest
    assert ext.get_extension_for_class(x509.SubjectKeyIdentifier).value == \
        x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    assert cert.not_valid_before_utc == NOW - timedelta(hours=1)
    assert cert.not_valid_after_utc == NOW + timedelta(days=30)

    # openssl agrees it is an OCSP signer under this chain (purpose checks need real time)
    fresh = create_ocsp_responder(pki.issuing_cert, pki.issuing_key, datetime.now(UTC))[0]
    (tmp_path / "chain.pem").write_bytes(pem(pki.issuing_cert) + pem(pki.root_cert))
    (tmp_path / "responder.pem").write_bytes(pem(fresh))
    result = openssl("verify", "-purpose", "ocsphelper", "-CAfile", "chain.pem",
                     "responder.pem", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert pkilint("lint_pkix_cert", "responder.pem", cwd=tmp_path) == ""


def test_responder_never_outlives_its_issuer(pki: Pki) -> None:
    late = pki.issuing_cert.not_valid_after_utc - timedelta(days=3)
    cert, _ = create_ocsp_responder(pki.issuing_cert, pki.issuing_key, late)
    assert cert.not_valid_after_utc == pki.issuing_cert.not_valid_after_utc
    with pytest.raises(ValueError, match="expired"):
        create_ocsp_responder(pki.issuing_cert, pki.issuing_key,
                              pki.issuing_cert.not_valid_after_utc + timedelta(seconds=1))


@pytest.mark.parametrize(
    ("now", "rotate"),
    [
        (NOW, False),
        (NOW + timedelta(days=22, hours=23), False),
        (NOW + timedelta(days=23), True),
        (NOW + timedelta(days=31), True),
        (NOW - timedelta(hours=2), True),
    ],
)
def test_responder_needs_rotation(pki: Pki, now: datetime, rotate: bool) -> None:
    cert, _ = create_ocsp_responder(pki.issuing_cert, pki.issuing_key, NOW)
    assert responder_needs_rotation(cert, now, timedelta(days=7)) is rotate


class Statuses:
    """A status source that counts its calls, as a database would be asked."""

    def __init__(self) -> None:
        self.table: dict[int, CertStatusAnswer] = {}
        self.calls = 0

    def __call__(self, serial: int) -> CertStatusAnswer:
        self.calls += 1
        return self.table.get(serial, CertStatusAnswer.unknown())


def _query(pki: Pki, serial: int, nonce: bytes | None = None) -> OcspQuery:
    builder = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        *_certid_hashes(pki), serial, hashes.SHA1())
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return parse_ocsp_request(builder.build().public_bytes(serialization.Encoding.DER))


def _certid_hashes(pki: Pki) -> tuple[bytes, bytes]:
    name = hashes.Hash(hashes.SHA1())
    name.update(pki.issuing_cert.subject.public_bytes())
    key = pki.issuing_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    return name.finalize(), key.value.digest  # our test CAs use the RFC 5280 method-1 SKI


def test_cache_reuses_a_signed_answer_until_stale_or_changed(pki: Pki) -> None:
    cert, key = create_ocsp_responder(pki.issuing_cert, pki.issuing_key, NOW)
    cache = OcspResponseCache(max_age=timedelta(hours=1))
    statuses = Statuses()
    statuses.table[10] = CertStatusAnswer.good()

    def ask(now: datetime, nonce: bytes | None = None) -> bytes:
        return cache.respond(_query(pki, 10, nonce), pki.issuing_cert, cert, key, statuses,
                             now, VALIDITY)

    first = ask(NOW)
    assert ask(NOW + timedelta(minutes=59)) == first  # same signed bytes
    assert statuses.calls == 2  # yet the status was looked up each time

    statuses.table[10] = CertStatusAnswer.revoked(NOW, RevocationReason.KEY_COMPROMISE)
    revoked = ask(NOW + timedelta(minutes=59))
    assert revoked != first
    assert ocsp.load_der_ocsp_response(revoked).certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert ask(NOW + timedelta(minutes=118)) == revoked
    resigned = ask(NOW + timedelta(minutes=119))  # an hour after it was signed: stale
    assert resigned != revoked
    later = ocsp.load_der_ocsp_response(ask(NOW + timedelta(minutes=120)))
    assert later.this_update_utc == NOW + timedelta(minutes=119)

    with_nonce = [ask(NOW + timedelta(minutes=61), bytes([n]) * 16) for n in (1, 1)]
    assert with_nonce[0] != with_nonce[1]  # ECDSA is randomised: each was signed fresh
    for der, in zip(with_nonce, strict=True):
        nonce = ocsp.load_der_ocsp_response(der).extensions.get_extension_for_class(
            x509.OCSPNonce).value.nonce
        assert nonce == b"\x01" * 16
    assert len(cache) == 1


def test_cache_resigns_for_a_rotated_responder_and_evicts_the_oldest(pki: Pki) -> None:
    old_cert, old_key = create_ocsp_responder(pki.issuing_cert, pki.issuing_key, NOW)
    new_cert, new_key = create_ocsp_responder(pki.issuing_cert, pki.issuing_key, NOW)
    cache = OcspResponseCache(max_age=timedelta(hours=1), max_entries=2)
    statuses = Statuses()

    def ask(serial: int, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> bytes:
        return cache.respond(_query(pki, serial), pki.issuing_cert, cert, key, statuses, NOW,
                             VALIDITY)

    old = ask(1, old_cert, old_key)  # type: ignore[arg-type]
    new = ask(1, new_cert, new_key)  # type: ignore[arg-type]
    assert ocsp.load_der_ocsp_response(new).certificates == [new_cert] != [old_cert]
    assert len(cache) == 2
    ask(2, new_cert, new_key)  # type: ignore[arg-type]
    assert len(cache) == 2
    assert ask(1, new_cert, new_key) == new  # type: ignore[arg-type]
    assert ask(1, old_cert, old_key) != old  # type: ignore[arg-type]  # evicted, re-signed


def test_cache_refuses_to_outlive_next_update(pki: Pki) -> None:
    cert, key = create_ocsp_responder(pki.issuing_cert, pki.issuing_key, NOW)
    cache = OcspResponseCache(max_age=VALIDITY)
    with pytest.raises(ValueError, match="shorter"):
        cache.respond(_query(pki, 1), pki.issuing_cert, cert, key, Statuses(), NOW, VALIDITY)
    with pytest.raises(ValueError):
        OcspResponseCache(max_age=timedelta(0))


def test_cache_answers_another_issuer_unauthorized(pki: Pki) -> None:
    other = make_pki("p256", NOW, name="other")
    cert, key = create_ocsp_responder(pki.issuing_cert, pki.issuing_key, NOW)
    statuses = Statuses()
    der = OcspResponseCache(timedelta(hours=1)).respond(
        _query(other, 1), pki.issuing_cert, cert, key, statuses, NOW, VALIDITY)
    response = ocsp.load_der_ocsp_response(der)
    assert response.response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED
    assert statuses.calls == 0
