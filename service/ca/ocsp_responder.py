"""The delegated OCSP responder (RFC 6960 §4.2.2.2): its certificate, rotation and answer cache."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from service.ca.keystore import SigningKey
from service.ca.signer import CaKey, CaPublicKey, as_ca_key
from service.ca.profile import authority_key_identifier
from service.ca.ocsp import (
    CertId,
    CertStatusAnswer,
    OcspQuery,
    build_ocsp_response,
    is_for_issuer,
    sign_answer,
    unauthorized_response,
)


def create_ocsp_responder(
    issuer_cert: x509.Certificate, issuer_key: CaKey | SigningKey, now: datetime,
    validity: timedelta = timedelta(days=30), *, key: CaKey | None = None,
) -> tuple[x509.Certificate, CaKey | SigningKey]:
    """A delegated OCSP signing certificate and its new key, issued by the issuing CA.

    The key mirrors the issuer's (same curve, or same RSA size) so the responder is never the
    weaker link. Short-lived because id-pkix-ocsp-nocheck means nobody checks its revocation;
    backdated an hour so clients with a slow clock accept a freshly rotated responder.

    Given `key` (a responder key kept in a PKCS#11 token), that key is certified instead of a
    new one.

    Raises:
        ValueError: the issuer key type is unsupported, or the issuer expires before `now`.
        CaError, TokenUnavailable: the issuing key cannot sign.
    """
    signer = as_ca_key(issuer_key)
    responder: CaKey | SigningKey
    if key is None:
        responder = _mirror(signer.public_key())
        public_key: CaPublicKey = responder.public_key()
    else:
        responder, public_key = key, key.public_key()
    not_after = min(now + validity, issuer_cert.not_valid_after_utc)
    if not_after <= now:
        raise ValueError("the issuing CA has expired")
    issuer_cns = [a.value for a in issuer_cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    issuer_cn = issuer_cns[0] if issuer_cns and isinstance(issuer_cns[0], str) else "certgate"
    common_name = f"{issuer_cn} OCSP Responder"[:64]  # ub-common-name
    cert = signer.sign_certificate(
        x509.CertificateBuilder()
        .subject_name(x509.Name([  # BR 7.1.2.8: a responder names its organisation like a CA does
            *issuer_cert.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME),
            *issuer_cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]))
        .issuer_name(issuer_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(max(now - timedelta(hours=1), issuer_cert.not_valid_before_utc))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        .add_extension(x509.OCSPNoCheck(), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(authority_key_identifier(issuer_cert), critical=False)
    )
    return cert, responder


def _mirror(issuer_public: CaPublicKey) -> SigningKey:
    """A new key like the issuer's: the same curve, or the same RSA size."""
    if isinstance(issuer_public, ec.EllipticCurvePublicKey):
        return ec.generate_private_key(issuer_public.curve)
    return rsa.generate_private_key(public_exponent=65537, key_size=issuer_public.key_size)


def responder_needs_rotation(cert: x509.Certificate, now: datetime, margin: timedelta) -> bool:
    """Whether to issue a new responder: within `margin` of expiry, or not yet valid."""
    return now < cert.not_valid_before_utc or now >= cert.not_valid_after_utc - margin


@dataclass(frozen=True)
class _CachedAnswer:
    der: bytes
    status: CertStatusAnswer
    signed_at: datetime


class OcspResponseCache:
    """Signed answers kept for nonce-less requests, re-signed when stale or the status changed.

    The status source is still asked on every request, so a revocation shows at once; only
    the signature is saved. A request with a nonce is always signed fresh: the nonce must be
    echoed, so its answer can be neither reused nor shared. (RFC 5019 would let a responder
    ignore nonces to serve everything from cache; certgate echoes them, and tells clients
    that want the cheap path to send none, as browsers do.)
    """

    def __init__(self, max_age: timedelta, max_entries: int = 100_000) -> None:
        if max_age <= timedelta(0) or max_entries < 1:
            raise ValueError("max_age and max_entries must be positive")
        self._max_age = max_age
        self._max_entries = max_entries
        self._entries: dict[tuple[CertId, int], _CachedAnswer] = {}
        self._lock = threading.Lock()

    def respond(
        self, query: OcspQuery, issuer_cert: x509.Certificate, responder_cert: x509.Certificate,
        responder_key: CaKey | SigningKey, status_of: Callable[[int], CertStatusAnswer],
        now: datetime, validity: timedelta,
    ) -> bytes:
        """The same answer as `build_ocsp_response`, from cache where that is safe.

        Raises:
            ValueError: `max_age` is not shorter than `validity` (a cached answer would be
                served past its nextUpdate), or as `build_ocsp_response`.
        """
        if self._max_age >= validity:
            raise ValueError("cache max_age must be shorter than the response validity")
        if query.nonce is not None:
            return build_ocsp_response(query, issuer_cert, responder_cert, responder_key,
                                       status_of, now, validity)
        cert_id = query.cert_ids[0]
        if not is_for_issuer(cert_id, issuer_cert):
            return unauthorized_response()
        status = status_of(cert_id.serial)
        key = (cert_id, responder_cert.serial_number)  # a rotated responder re-signs everything
        with self._lock:
            cached = self._entries.get(key)
        if (cached is not None and cached.status == status
                and cached.signed_at <= now < cached.signed_at + self._max_age):
            return cached.der
        der = sign_answer(cert_id, status, None, issuer_cert, responder_cert, responder_key,
                          now, validity)
        with self._lock:
            self._entries.pop(key, None)
            while len(self._entries) >= self._max_entries:  # evict the oldest signed
                del self._entries[next(iter(self._entries))]
            self._entries[key] = _CachedAnswer(der, status, now)
        return der

    def __len__(self) -> int:
        return len(self._entries)
