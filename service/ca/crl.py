"""Certificate revocation lists (RFC 5280 §5): reasons, entries, signing and the refresh rule."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from service.ca.keystore import SigningKey, signature_hash  # noqa: F401 - re-exported for the tests
from service.ca.profile import authority_key_identifier
from service.ca.signer import CaKey, as_ca_key

# RFC 5280 §5.2.3: a CRL number is a non-negative integer of at most 20 octets.
_MAX_CRL_NUMBER = (1 << 159) - 1


class RevocationReason(StrEnum):
    """The RFC 5280 reasons an operator may give, spelled as the API spells them.

    certificateHold is not offered: certgate never suspends, a revocation is final.
    removeFromCRL only exists for delta CRLs, which certgate does not publish.
    aACompromise and cACompromise concern attribute and CA certificates, which it never issues.
    """

    UNSPECIFIED = "unspecified"
    KEY_COMPROMISE = "keyCompromise"
    AFFILIATION_CHANGED = "affiliationChanged"
    SUPERSEDED = "superseded"
    CESSATION_OF_OPERATION = "cessationOfOperation"
    PRIVILEGE_WITHDRAWN = "privilegeWithdrawn"

    @property
    def flag(self) -> x509.ReasonFlags:
        """The `cryptography` value for this reason."""
        return _REASON_FLAGS[self]

    @classmethod
    def from_flag(cls, flag: x509.ReasonFlags) -> RevocationReason:
        """The reason for a `cryptography` flag.

        Raises:
            ValueError: the flag is one certgate never uses (certificateHold, removeFromCRL…).
        """
        for reason, candidate in _REASON_FLAGS.items():
            if candidate is flag:
                return reason
        raise ValueError(f"revocation reason {flag.value} is not one certgate uses")


_REASON_FLAGS: dict[RevocationReason, x509.ReasonFlags] = {
    RevocationReason.UNSPECIFIED: x509.ReasonFlags.unspecified,
    RevocationReason.KEY_COMPROMISE: x509.ReasonFlags.key_compromise,
    RevocationReason.AFFILIATION_CHANGED: x509.ReasonFlags.affiliation_changed,
    RevocationReason.SUPERSEDED: x509.ReasonFlags.superseded,
    RevocationReason.CESSATION_OF_OPERATION: x509.ReasonFlags.cessation_of_operation,
    RevocationReason.PRIVILEGE_WITHDRAWN: x509.ReasonFlags.privilege_withdrawn,
}


@dataclass(frozen=True)
class RevokedEntry:
    """One revoked certificate as the CRL lists it."""

    serial: int
    revoked_at: datetime
    reason: RevocationReason


def build_crl(
    issuer_cert: x509.Certificate,
    issuer_key: CaKey | SigningKey,
    entries: Iterable[RevokedEntry],
    crl_number: int,
    this_update: datetime,
    next_update: datetime,
) -> bytes:
    """A signed, DER-encoded v2 CRL listing `entries`, as published at `GET /crl`.

    Entries are written in serial order so that the same state always gives the same TBS bytes.

    Raises:
        ValueError: `next_update` is not after `this_update`, the CRL number is out of the
            RFC 5280 range, a serial is listed twice or is not positive, or the key type
            is unsupported.
        CaError, TokenUnavailable: the key cannot sign.
    """
    if next_update <= this_update:
        raise ValueError("next_update must be after this_update")
    if not 0 <= crl_number <= _MAX_CRL_NUMBER:
        raise ValueError("crl_number must be a non-negative integer of at most 20 octets")
    ordered = sorted(entries, key=lambda entry: entry.serial)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer_cert.subject)
        .last_update(this_update)
        .next_update(next_update)
        .add_extension(authority_key_identifier(issuer_cert), critical=False)
        .add_extension(x509.CRLNumber(crl_number), critical=False)
    )
    seen: set[int] = set()
    for entry in ordered:
        if entry.serial <= 0:
            raise ValueError(f"serial {entry.serial} is not a positive integer")
        if entry.serial in seen:
            raise ValueError(f"serial {entry.serial:x} is listed twice")
        seen.add(entry.serial)
        builder = builder.add_revoked_certificate(_revoked_certificate(entry))
    crl = as_ca_key(issuer_key).sign_crl(builder)
    return crl.public_bytes(serialization.Encoding.DER)


def _revoked_certificate(entry: RevokedEntry) -> x509.RevokedCertificate:
    """One CRL entry; RFC 5280 §5.3.1 says to omit reasonCode rather than write unspecified."""
    builder = (
        x509.RevokedCertificateBuilder()
        .serial_number(entry.serial)
        .revocation_date(entry.revoked_at)
    )
    if entry.reason is not RevocationReason.UNSPECIFIED:
        builder = builder.add_extension(x509.CRLReason(entry.reason.flag), critical=False)
    return builder.build()


def crl_is_due(
    this_update: datetime, next_update: datetime, now: datetime, refresh_before: timedelta
) -> bool:
    """Whether the published CRL must be re-signed now.

    Due once `now` is within `refresh_before` of nextUpdate (so relying parties never hold an
    expired CRL), and also when `now` is before thisUpdate: the clock went back and clients
    would reject the CRL as not yet valid.
    """
    return now < this_update or now >= next_update - refresh_before
