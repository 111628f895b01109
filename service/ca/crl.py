"""CRLs (RFC 5280 section 5): reason names, entries, and signing a CRL for an issuer."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from service.ca.keystore import SigningKey
from service.ca.profile import signature_hash


class RevocationReason(StrEnum):
    """The reasons certgate offers (certificateHold and removeFromCRL are not offered)."""

    UNSPECIFIED = "unspecified"
    KEY_COMPROMISE = "keyCompromise"
    AFFILIATION_CHANGED = "affiliationChanged"
    SUPERSEDED = "superseded"
    CESSATION_OF_OPERATION = "cessationOfOperation"
    PRIVILEGE_WITHDRAWN = "privilegeWithdrawn"

    @property
    def flag(self) -> x509.ReasonFlags:
        """The `cryptography` reason flag."""
        return _FLAGS[self]


_FLAGS = {
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


def build_crl(issuer: x509.Certificate, key: SigningKey, entries: Iterable[RevokedEntry], *, crl_number: int,
              this_update: datetime, next_update: datetime) -> bytes:
    """A DER CRL signed by `key`: AKI, CRL number, and per entry its date and reason code.

    The reason code extension is left out for `unspecified`, as RFC 5280 section 5.3.1 advises.
    """
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(this_update)
        .next_update(next_update)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .add_extension(x509.CRLNumber(crl_number), critical=False)
    )
    for entry in entries:
        revoked = x509.RevokedCertificateBuilder().serial_number(entry.serial).revocation_date(entry.revoked_at)
        if entry.reason is not RevocationReason.UNSPECIFIED:
            revoked = revoked.add_extension(x509.CRLReason(entry.reason.flag), critical=False)
        builder = builder.add_revoked_certificate(revoked.build())
    return builder.sign(key, signature_hash(key)).public_bytes(serialization.Encoding.DER)


def crl_is_due(next_update: datetime, now: datetime, refresh_before: timedelta) -> bool:
    """True when a CRL should be rebuilt: it is within `refresh_before` of its nextUpdate."""
    return now >= next_update - refresh_before
