"""CRL building, checked by cryptography and by openssl as a relying party would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from revocation_pki import Pki, make_pki, openssl, pem, pkilint

from service.ca.crl import (
    RevocationReason,
    RevokedEntry,
    build_crl,
    crl_is_due,
    signature_hash,
)

BASE_URL = "http://127.0.0.1:8000"
REVOKED_SERIAL = 0x1A2B3C4D5E6F
GOOD_SERIAL = 0x77777777
UNSPECIFIED_SERIAL = 0x42


@pytest.fixture(scope="module")
def now() -> datetime:
    # openssl judges validity by the real clock, so the injected time is today's
    return datetime.now(UTC).replace(microsecond=0)


def _entries(now: datetime) -> list[RevokedEntry]:
    return [
        RevokedEntry(REVOKED_SERIAL, now - timedelta(hours=2), RevocationReason.KEY_COMPROMISE),
        RevokedEntry(UNSPECIFIED_SERIAL, now - timedelta(hours=1), RevocationReason.UNSPECIFIED),
    ]


def _crl(pki: Pki, now: datetime, number: int = 7) -> bytes:
    return build_crl(pki.issuing_cert, pki.issuing_key, _entries(now), number, now,
                     now + timedelta(days=7))


@pytest.mark.parametrize("key_type", ["p256", "rsa2048"])
def test_openssl_verifies_the_crl_and_shows_reason_and_date(
    key_type: str, now: datetime, tmp_path: Path
) -> None:
    pki = make_pki(key_type, now)
    pki.write(tmp_path)
    (tmp_path / "crl.der").write_bytes(_crl(pki, now))

    checked = openssl("crl", "-inform", "DER", "-in", "crl.der", "-CAfile", "chain.pem",
                      "-noout", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "verify OK" in checked.stdout + checked.stderr

    text = openssl("crl", "-inform", "DER", "-in", "crl.der", "-noout", "-text",
                   cwd=tmp_path).stdout
    assert f"Serial Number: {REVOKED_SERIAL:X}" in text
    assert "Key Compromise" in text
    revoked_at = now - timedelta(hours=2)
    assert f"Revocation Date: {revoked_at:%b} {revoked_at.day:2d} {revoked_at:%H:%M:%S %Y} GMT" \
        in text
    assert "X509v3 CRL Number: \n                7" in text
    assert pkilint("lint_crl", "-t", "CRL", "-p", "BR", "crl.der", cwd=tmp_path) == ""


@pytest.mark.parametrize("key_type", ["p256", "rsa2048"])
def test_openssl_verify_rejects_the_revoked_leaf_and_accepts_the_good_one(
    key_type: str, now: datetime, tmp_path: Path
) -> None:
    pki = make_pki(key_type, now)
    pki.write(tmp_path)
    (tmp_path / "revoked.pem").write_bytes(pem(pki.issue_leaf(REVOKED_SERIAL, BASE_URL, now)))
    (tmp_path / "good.pem").write_bytes(pem(pki.issue_leaf(GOOD_SERIAL, BASE_URL, now)))
    crl = x509.load_der_x509_crl(_crl(pki, now))
    (tmp_path / "crl.pem").write_bytes(crl.public_bytes(serialization.Encoding.PEM))

    def verify(leaf: str) -> tuple[int, str]:
        result = openssl("verify", "-crl_check", "-CRLfile", "crl.pem", "-CAfile", "chain.pem",
                         leaf, cwd=tmp_path)
        return result.returncode, result.stdout + result.stderr

    code, out = verify("revoked.pem")
    assert code != 0 and "certificate revoked" in out
    code, out = verify("good.pem")
    assert code == 0 and "good.pem: OK" in out


@pytest.mark.parametrize(
    ("key_type", "expected"),
    [("p256", hashes.SHA256), ("p384", hashes.SHA384), ("rsa2048", hashes.SHA256)],
)
def test_crl_contents_as_cryptography_reads_them(
    key_type: str, expected: type[hashes.HashAlgorithm], now: datetime
) -> None:
    pki = make_pki(key_type, now)
    crl = x509.load_der_x509_crl(_crl(pki, now, number=12345))

    assert isinstance(crl.signature_hash_algorithm, expected)
    assert crl.is_signature_valid(pki.issuing_cert.public_key())  # type: ignore[arg-type]
    assert not crl.is_signature_valid(pki.root_cert.public_key())  # type: ignore[arg-type]
    assert crl.issuer == pki.issuing_cert.subject
    assert crl.last_update_utc == now and crl.next_update_utc == now + timedelta(days=7)
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 12345
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = pki.issuing_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest

    revoked = crl.get_revoked_certificate_by_serial_number(REVOKED_SERIAL)
    assert revoked is not None
    assert revoked.revocation_date_utc == now - timedelta(hours=2)
    reason = revoked.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason is x509.ReasonFlags.key_compromise
    unspecified = crl.get_revoked_certificate_by_serial_number(UNSPECIFIED_SERIAL)
    assert unspecified is not None and len(unspecified.extensions) == 0  # RFC 5280 §5.3.1
    assert crl.get_revoked_certificate_by_serial_number(GOOD_SERIAL) is None


def test_an_empty_crl_verifies(now: datetime, tmp_path: Path) -> None:
    pki = make_pki("p256", now)
    pki.write(tmp_path)
    der = build_crl(pki.issuing_cert, pki.issuing_key, [], 1, now, now + timedelta(days=1))
    (tmp_path / "crl.der").write_bytes(der)
    checked = openssl("crl", "-inform", "DER", "-in", "crl.der", "-CAfile", "chain.pem",
                      "-noout", cwd=tmp_path)
    assert "verify OK" in checked.stdout + checked.stderr
    assert len(x509.load_der_x509_crl(der)) == 0


def test_entries_are_written_in_serial_order(now: datetime) -> None:
    pki = make_pki("p256", now)
    entries = [RevokedEntry(s, now, RevocationReason.SUPERSEDED) for s in (30, 10, 20)]
    crl = x509.load_der_x509_crl(
        build_crl(pki.issuing_cert, pki.issuing_key, entries, 1, now, now + timedelta(days=1)))
    assert [entry.serial_number for entry in crl] == [10, 20, 30]


@pytest.mark.parametrize(
    ("entries", "number", "next_update", "message"),
    [
        ([], 1, timedelta(0), "next_update"),
        ([], -1, timedelta(days=1), "crl_number"),
        ([], 1 << 159, timedelta(days=1), "crl_number"),
        ([(5, "superseded"), (5, "keyCompromise")], 1, timedelta(days=1), "twice"),
        ([(0, "superseded")], 1, timedelta(days=1), "positive"),
    ],
)
def test_bad_input_is_refused(
    entries: list[tuple[int, str]], number: int, next_update: timedelta, message: str,
    now: datetime,
) -> None:
    pki = make_pki("p256", now)
    revoked = [RevokedEntry(serial, now, RevocationReason(reason)) for serial, reason in entries]
    with pytest.raises(ValueError, match=message):
        build_crl(pki.issuing_cert, pki.issuing_key, revoked, number, now, now + next_update)


def test_reasons_are_the_api_names_and_map_both_ways() -> None:
    assert [reason.value for reason in RevocationReason] == [
        "unspecified", "keyCompromise", "affiliationChanged", "superseded",
        "cessationOfOperation", "privilegeWithdrawn",
    ]
    for reason in RevocationReason:
        assert RevocationReason.from_flag(reason.flag) is reason
    for refused in ("certificateHold", "removeFromCRL", "cACompromise"):
        with pytest.raises(ValueError):
            RevocationReason(refused)
    with pytest.raises(ValueError):
        RevocationReason.from_flag(x509.ReasonFlags.certificate_hold)


def test_signature_hash_follows_the_key(now: datetime) -> None:
    from revocation_pki import new_key

    assert isinstance(signature_hash(new_key("p256")), hashes.SHA256)
    assert isinstance(signature_hash(new_key("p384")), hashes.SHA384)
    assert isinstance(signature_hash(new_key("rsa2048")), hashes.SHA256)


T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "due"),
    [
        (T0, False),                                   # just published
        (T0 + timedelta(days=5, hours=23), False),     # a day and a bit before nextUpdate
        (T0 + timedelta(days=6), True),                # refresh window opens
        (T0 + timedelta(days=8), True),                # already stale
        (T0 - timedelta(minutes=1), True),             # clock went back: not yet valid
    ],
)
def test_crl_is_due(now: datetime, due: bool) -> None:
    assert crl_is_due(T0, T0 + timedelta(days=7), now, timedelta(days=1)) is due
