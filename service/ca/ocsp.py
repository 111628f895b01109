"""OCSP (RFC 6960): parsing requests, signing answers with a delegated responder, caching them."""

from __future__ import annotations

import base64
import binascii
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from service.ca.authority import new_serial
from service.ca.crl import RevocationReason
from service.ca.keystore import CaKeyType, SigningKey, generate_key
from service.ca.profile import signature_hash

RESPONDER_DAYS = 30


class MalformedOcspRequest(ValueError):
    """The bytes are not one OCSP request we can answer (answered `malformedRequest`)."""


class Status(StrEnum):
    """A certificate's OCSP status."""

    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class CertStatusAnswer:
    """What the responder says about one serial."""

    status: Status
    revoked_at: datetime | None = None
    reason: RevocationReason | None = None


def decode_get_path(encoded: str) -> bytes:
    """The DER request in a GET URL (RFC 6960 appendix A.1: base64, then URL-encoded).

    Raises:
        MalformedOcspRequest: not base64.
    """
    text = urllib.parse.unquote(encoded).replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedOcspRequest("the OCSP GET path is not base64") from exc


def parse_request(der: bytes) -> ocsp.OCSPRequest:
    """Load a request (cryptography answers the first CertID; we refuse more than one).

    Raises:
        MalformedOcspRequest: not a DER OCSP request.
    """
    try:
        return ocsp.load_der_ocsp_request(der)
    except ValueError as exc:
        raise MalformedOcspRequest(str(exc)) from exc


def request_nonce(request: ocsp.OCSPRequest) -> bytes | None:
    """The nonce a client sent, if any."""
    try:
        return request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        return None


def issued_by(request: ocsp.OCSPRequest, issuer: x509.Certificate) -> bool:
    """True when the request's CertID names `issuer` (name hash and key hash, in its hash)."""
    # cryptography computes both hashes for a CertID; any certificate serves as the subject.
    own = ocsp.OCSPRequestBuilder().add_certificate(issuer, issuer, request.hash_algorithm).build()
    return request.issuer_name_hash == own.issuer_name_hash and request.issuer_key_hash == own.issuer_key_hash


def build_response(request: ocsp.OCSPRequest, answer: CertStatusAnswer, *, issuer: x509.Certificate,
                   responder: x509.Certificate, responder_key: SigningKey, now: datetime, validity: timedelta,
                   nonce: bytes | None) -> bytes:
    """A signed `successful` OCSP response about the request's certificate."""
    builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
        issuer_name_hash=request.issuer_name_hash, issuer_key_hash=request.issuer_key_hash,
        serial_number=request.serial_number, algorithm=request.hash_algorithm,
        cert_status={Status.GOOD: ocsp.OCSPCertStatus.GOOD, Status.REVOKED: ocsp.OCSPCertStatus.REVOKED,
                     Status.UNKNOWN: ocsp.OCSPCertStatus.UNKNOWN}[answer.status],
        this_update=now, next_update=now + validity,
        revocation_time=answer.revoked_at if answer.status is Status.REVOKED else None,
        revocation_reason=answer.reason.flag if answer.status is Status.REVOKED and answer.reason else None,
    ).responder_id(ocsp.OCSPResponderEncoding.HASH, responder).certificates([responder])
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.sign(responder_key, signature_hash(responder_key)).public_bytes(serialization.Encoding.DER)


def malformed_response() -> bytes:
    """The unsigned `malformedRequest` answer."""
    return ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST).public_bytes(serialization.Encoding.DER)


def unauthorized_response() -> bytes:
    """The unsigned `unauthorized` answer: we are not authoritative for that issuer."""
    return ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED).public_bytes(serialization.Encoding.DER)


def create_responder(issuer: x509.Certificate, issuer_key: SigningKey, now: datetime) -> tuple[x509.Certificate, SigningKey]:
    """A delegated OCSP signing certificate: id-kp-OCSPSigning, ocsp-nocheck, short-lived (rotated)."""
    key = generate_key(CaKeyType.P256)
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([*issuer.subject.get_attributes_for_oid(x509.NameOID.COUNTRY_NAME),
                                 *issuer.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME),
                                 x509.NameAttribute(x509.NameOID.COMMON_NAME, "certgate OCSP responder")]))
        .issuer_name(issuer.subject).public_key(key.public_key()).serial_number(new_serial())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=RESPONDER_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        .add_extension(x509.OCSPNoCheck(), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(issuer_key, signature_hash(issuer_key))
    )
    return cert, key


def responder_needs_rotation(cert: x509.Certificate, now: datetime, margin: timedelta = timedelta(days=7)) -> bool:
    """True when the responder certificate expires within `margin`."""
    return cert.not_valid_after_utc - margin <= now
