"""ARI (RFC 9773): the renewal window of a certificate, and revoke-cert through the revocation use case."""

from __future__ import annotations

from collections.abc import Callable

from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlmodel import Session, col, select

from service.acme.jws import b64decode
from service.acme.problems import AcmeProblem
from service.db.acme_models import AcmeRenewalMark
from service.db.models import Certificate

# RFC 8555 §7.6 / RFC 5280 reason codes that certgate's revocation use case knows.
REASONS = {0: "unspecified", 1: "keyCompromise", 3: "affiliationChanged", 4: "superseded",
           5: "cessationOfOperation", 9: "privilegeWithdrawn"}


@dataclass(frozen=True)
class Window:
    """ARI's suggested window and why."""

    start: datetime
    end: datetime
    explanation: str | None = None


def parse_cert_id(cert_id: str) -> tuple[str, str]:
    """certID = base64url(AKI keyIdentifier) "." base64url(serial DER content): (aki hex, serial hex).

    Raises:
        AcmeProblem: malformed.
    """
    aki_b64, dot, serial_b64 = cert_id.partition(".")
    if not dot or not aki_b64 or not serial_b64:
        raise AcmeProblem("malformed", "a certID is keyIdentifier.serialNumber, both base64url")
    aki, serial = b64decode(aki_b64, "keyIdentifier"), b64decode(serial_b64, "serialNumber")
    return aki.hex(), format(int.from_bytes(serial, "big"), "x")


def cert_id_serial(session: Session, cert_id: str, key_id_of: Callable[[Certificate], str]) -> Certificate:
    """The certificate a certID names (`key_id_of` answers the key id of the CA that issued a certificate).

    Raises:
        AcmeProblem: malformed (syntax), 404 (not one of ours).
    """
    aki, serial = parse_cert_id(cert_id)
    cert = session.exec(select(Certificate).where(Certificate.serial_number == serial)).first()
    if cert is None or aki != key_id_of(cert):
        raise AcmeProblem("malformed", "no such certificate", status=404)
    return cert


def renewal_window(session: Session, cert: Certificate, issuer_key_id: str, now: datetime) -> Window:
    """The last third of the certificate's life, or 'now' when it is revoked or marked for mass replacement."""
    if cert.revoked_at is not None:
        return Window(cert.revoked_at - timedelta(hours=1), cert.revoked_at, "the certificate is revoked")
    mark = session.exec(select(AcmeRenewalMark).where(AcmeRenewalMark.issuer_key_id == issuer_key_id,
                                                      AcmeRenewalMark.at >= cert.issued_at)
                        .order_by(col(AcmeRenewalMark.at))).first()
    if mark is not None:
        return Window(mark.at - timedelta(hours=1), mark.at, f"mass replacement: {mark.reason}")
    life = cert.not_after - cert.not_before
    return Window(cert.not_before + life * 2 / 3, cert.not_before + life * 5 / 6)


def revocation_target(session: Session, der: bytes) -> tuple[Certificate, bytes]:
    """The stored certificate a revoke-cert request names, and its SubjectPublicKeyInfo.

    Raises:
        AcmeProblem: malformed (not a certificate), 404 (not ours).
    """
    try:
        presented = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise AcmeProblem("malformed", "certificate is not a DER certificate") from exc
    cert = session.exec(select(Certificate).where(Certificate.serial_number == format(presented.serial_number, "x"))).first()
    if cert is None or x509.load_pem_x509_certificate(cert.pem.encode()).public_bytes(Encoding.DER) != der:
        raise AcmeProblem("malformed", "certgate did not issue this certificate", status=404)
    spki = presented.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return cert, spki


def reason_name(code: object) -> str:
    """The RFC 5280 reason name for a revoke-cert reason code.

    Raises:
        AcmeProblem: badRevocationReason.
    """
    if code is None:
        return "unspecified"
    if not isinstance(code, int) or isinstance(code, bool) or code not in REASONS:
        raise AcmeProblem("badRevocationReason", f"reason must be one of {sorted(REASONS)}")
    return REASONS[code]
