"""OCSP (RFC 6960): request parsing and signed answers; the responder itself is in ocsp_responder.

Decisions, in one place:
- One answer per request. `cryptography` 50 parses only single-request OCSPRequests and its
  builder writes exactly one SingleResponse, which is also the RFC 5019 profile that browsers
  and TLS stacks follow. A multi-request OCSPRequest (``openssl ocsp -serial 1 -serial 2``) is
  parsed with pyasn1 and answered for its FIRST CertID; the client sees no status for the rest.
- A CertID naming another issuer gets the unsigned `unauthorized` status (RFC 6960 §2.3 citing
  RFC 5019 §2.2.3: "not capable of responding authoritatively"), not a signed `unknown`: this
  responder can say nothing about another CA, and junk requests cost no signature.
  `unknown` is kept for our issuer's serials that the status source does not know.
- A CertID hashed with anything but SHA-1/SHA-2 cannot be echoed and is a malformed request.
- Nonces (RFC 8954): 1..32 octets are echoed; an empty nonce is malformed; a longer one is
  ignored (answered without nonce, which §2.1 allows).
- `producedAt` is stamped by `cryptography` from the system clock; it cannot be injected.
"""

from __future__ import annotations

import base64
import binascii
import functools
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from pyasn1.codec.der import decoder as der_decoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import univ
from pyasn1_alt_modules import rfc5280, rfc6960

from service.ca.crl import RevocationReason
from service.ca.keystore import SigningKey
from service.ca.signer import CaKey, as_ca_key

MAX_REQUEST_BYTES = 8192  # a one-CertID request is ~100 bytes; more is abuse
_MAX_NONCE_BYTES = 32
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256,
    "sha384": hashes.SHA384, "sha512": hashes.SHA512,
}
_HASH_NAMES_BY_OID = {
    "1.3.14.3.2.26": "sha1", "2.16.840.1.101.3.4.2.4": "sha224",
    "2.16.840.1.101.3.4.2.1": "sha256", "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}


class MalformedOcspRequest(Exception):
    """Not an OCSP request this responder can answer; the answer is malformedRequest."""


@dataclass(frozen=True)
class CertId:
    """One CertID as the client sent it; echoed unchanged in the answer."""

    serial: int
    hash_algorithm: str  # "sha1", "sha256", ...
    issuer_name_hash: bytes
    issuer_key_hash: bytes


@dataclass(frozen=True)
class OcspQuery:
    """A parsed OCSPRequest: its CertIDs in order (at least one) and its nonce, if any."""

    cert_ids: tuple[CertId, ...]
    nonce: bytes | None

    @property
    def serials(self) -> tuple[int, ...]:
        """The serial numbers asked about."""
        return tuple(cert_id.serial for cert_id in self.cert_ids)


class CertStatusKind(StrEnum):
    """The three statuses of RFC 6960 §2.2."""

    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class CertStatusAnswer:
    """What the status source says about one serial of our issuer."""

    kind: CertStatusKind
    revoked_at: datetime | None = None
    reason: RevocationReason | None = None

    def __post_init__(self) -> None:
        revoked = self.kind is CertStatusKind.REVOKED
        if revoked != (self.revoked_at is not None) or revoked != (self.reason is not None):
            raise ValueError("revoked_at and reason are given exactly for revoked certificates")

    @classmethod
    def good(cls) -> CertStatusAnswer:
        """Issued by us and not revoked."""
        return cls(CertStatusKind.GOOD)

    @classmethod
    def revoked(cls, revoked_at: datetime, reason: RevocationReason) -> CertStatusAnswer:
        """Revoked at `revoked_at` for `reason`."""
        return cls(CertStatusKind.REVOKED, revoked_at, reason)

    @classmethod
    def unknown(cls) -> CertStatusAnswer:
        """A serial this CA never issued."""
        return cls(CertStatusKind.UNKNOWN)


def decode_ocsp_get_path(b64: str) -> bytes:
    """The DER request inside a `GET /ocsp/{b64}` path (RFC 6960 Appendix A.1).

    Accepts percent-encoding, standard and URL-safe alphabets, and missing padding.

    Raises:
        MalformedOcspRequest: not base64, or too long.
    """
    text = urllib.parse.unquote(b64).strip().lstrip("/")
    if len(text) > MAX_REQUEST_BYTES * 2:
        raise MalformedOcspRequest("GET request too long")
    text = text.replace("-", "+").replace("_", "/").rstrip("=")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedOcspRequest("GET path is not base64") from exc


def parse_ocsp_request(der: bytes) -> OcspQuery:
    """Parse a DER OCSPRequest; any signature on it is ignored (RFC 6960 makes it optional).

    Raises:
        MalformedOcspRequest: empty, oversized, not DER, trailing data, an unsupported CertID
            hash, or an empty or repeated nonce.
    """
    if not der or len(der) > MAX_REQUEST_BYTES:
        raise MalformedOcspRequest("request is empty or too large")
    try:
        request = ocsp.load_der_ocsp_request(der)
    except NotImplementedError:  # more than one CertID: cryptography stops here
        return _parse_multi_request(der)
    except ValueError as exc:
        raise MalformedOcspRequest(f"not an OCSP request: {exc}") from exc
    try:
        algorithm = request.hash_algorithm.name
    except UnsupportedAlgorithm as exc:
        raise MalformedOcspRequest("CertID hash algorithm is not SHA-1 or SHA-2") from exc
    try:
        nonce_ext = request.extensions.get_extension_for_class(x509.OCSPNonce)
        nonce: bytes | None = nonce_ext.value.nonce
    except x509.ExtensionNotFound:
        nonce = None
    except ValueError as exc:
        raise MalformedOcspRequest(f"unusable OCSP request extensions: {exc}") from exc
    cert_id = CertId(request.serial_number, algorithm, request.issuer_name_hash,
                     request.issuer_key_hash)
    return _query((cert_id,), nonce)


def _parse_multi_request(der: bytes) -> OcspQuery:
    """The slow path for a request with several CertIDs, decoded with pyasn1."""
    try:
        request, rest = der_decoder.decode(der, asn1Spec=rfc6960.OCSPRequest())
        if rest:
            raise MalformedOcspRequest("trailing bytes after the OCSP request")
        tbs = request["tbsRequest"]
        cert_ids = tuple(
            CertId(
                int(item["reqCert"]["serialNumber"]),
                _HASH_NAMES_BY_OID.get(str(item["reqCert"]["hashAlgorithm"]["algorithm"]), ""),
                bytes(item["reqCert"]["issuerNameHash"]),
                bytes(item["reqCert"]["issuerKeyHash"]),
            )
            for item in tbs["requestList"]
        )
        nonces = [
            _nonce_value(bytes(ext["extnValue"]))
            for ext in (tbs["requestExtensions"] if tbs["requestExtensions"].isValue else [])
            if ext["extnID"] == rfc6960.id_pkix_ocsp_nonce
        ]
    except PyAsn1Error as exc:
        raise MalformedOcspRequest(f"not an OCSP request: {exc}") from exc
    if len(nonces) > 1:
        raise MalformedOcspRequest("repeated nonce extension")
    return _query(cert_ids, nonces[0] if nonces else None)


def _nonce_value(extn_value: bytes) -> bytes:
    """The nonce inside its OCTET STRING, or the raw value old clients sent (as cryptography)."""
    try:
        inner, rest = der_decoder.decode(extn_value, asn1Spec=univ.OctetString())
    except PyAsn1Error:
        return extn_value
    return extn_value if rest else bytes(inner)


def _query(cert_ids: tuple[CertId, ...], nonce: bytes | None) -> OcspQuery:
    """Check what both parsers share."""
    if not cert_ids:
        raise MalformedOcspRequest("no CertID in the request")
    for cert_id in cert_ids:
        if cert_id.hash_algorithm not in _HASHES:
            raise MalformedOcspRequest("CertID hash algorithm is not SHA-1 or SHA-2")
        size = _HASHES[cert_id.hash_algorithm]().digest_size
        if size != len(cert_id.issuer_name_hash) or size != len(cert_id.issuer_key_hash):
            raise MalformedOcspRequest("CertID hash lengths do not match the algorithm")
    if nonce is not None and not nonce:
        raise MalformedOcspRequest("empty nonce")
    if nonce is not None and len(nonce) > _MAX_NONCE_BYTES:
        nonce = None
    return OcspQuery(cert_ids, nonce)


# Keyed by object identity (the entry holds the certificate, so the id stays its own): an
# lru_cache on the certificate would compare certificates by value, a third of a cached answer.
_ISSUER_HASHES: dict[tuple[int, str], tuple[x509.Certificate, tuple[bytes, bytes]]] = {}


def _issuer_hashes(issuer_cert: x509.Certificate, algorithm: str) -> tuple[bytes, bytes]:
    """(name hash, key hash) that a CertID for `issuer_cert` carries under `algorithm`."""
    hit = _ISSUER_HASHES.get((id(issuer_cert), algorithm))
    if hit is not None and hit[0] is issuer_cert:
        return hit[1]
    if len(_ISSUER_HASHES) >= 64:
        _ISSUER_HASHES.clear()
    computed = _compute_issuer_hashes(issuer_cert, algorithm)
    _ISSUER_HASHES[(id(issuer_cert), algorithm)] = (issuer_cert, computed)
    return computed


def _compute_issuer_hashes(issuer_cert: x509.Certificate, algorithm: str) -> tuple[bytes, bytes]:
    spki_der = issuer_cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    spki, _ = der_decoder.decode(spki_der, asn1Spec=rfc5280.SubjectPublicKeyInfo())
    key_bits = spki["subjectPublicKey"].asOctets()
    name = hashes.Hash(_HASHES[algorithm]())
    name.update(issuer_cert.subject.public_bytes())
    key = hashes.Hash(_HASHES[algorithm]())
    key.update(key_bits)
    return name.finalize(), key.finalize()


def is_for_issuer(cert_id: CertId, issuer_cert: x509.Certificate) -> bool:
    """Whether `cert_id` names `issuer_cert` (its name and key hashes match)."""
    return _issuer_hashes(issuer_cert, cert_id.hash_algorithm) == (
        cert_id.issuer_name_hash, cert_id.issuer_key_hash)


_OCSP_STATUS = {
    CertStatusKind.GOOD: ocsp.OCSPCertStatus.GOOD,
    CertStatusKind.REVOKED: ocsp.OCSPCertStatus.REVOKED,
    CertStatusKind.UNKNOWN: ocsp.OCSPCertStatus.UNKNOWN,
}


def sign_answer(
    cert_id: CertId, status: CertStatusAnswer, nonce: bytes | None,
    issuer_cert: x509.Certificate, responder_cert: x509.Certificate,
    responder_key: CaKey | SigningKey, now: datetime, validity: timedelta,
) -> bytes:
    """One signed OCSPResponse answering `cert_id` with `status`, whoever the issuer.

    Raises:
        ValueError: the responder key type is unsupported.
    """
    reason = None
    # RFC 5280 §5.3.1's advice for CRLs holds here too: no reason rather than "unspecified".
    if status.reason is not None and status.reason is not RevocationReason.UNSPECIFIED:
        reason = status.reason.flag
    builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
        issuer_name_hash=cert_id.issuer_name_hash, issuer_key_hash=cert_id.issuer_key_hash,
        serial_number=cert_id.serial, algorithm=_HASHES[cert_id.hash_algorithm](),
        cert_status=_OCSP_STATUS[status.kind], this_update=now, next_update=now + validity,
        revocation_time=status.revoked_at, revocation_reason=reason,
    )
    if responder_cert != issuer_cert:  # delegated: the client needs the responder's certificate
        builder = builder.certificates([responder_cert])
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    response = as_ca_key(responder_key).sign_ocsp(builder, responder_cert)
    return response.public_bytes(serialization.Encoding.DER)


def build_ocsp_response(
    query: OcspQuery, issuer_cert: x509.Certificate, responder_cert: x509.Certificate,
    responder_key: CaKey | SigningKey, status_of: Callable[[int], CertStatusAnswer],
    now: datetime, validity: timedelta,
) -> bytes:
    """The DER OCSPResponse for `query`: its first CertID answered, signed by the responder.

    thisUpdate is `now`, nextUpdate `now + validity`; the nonce is echoed when sent; the
    responder is named by key hash. A CertID of another issuer gets `unauthorized`.

    Raises:
        ValueError: `validity` is not positive, or the responder key type is unsupported.
    """
    if validity <= timedelta(0):
        raise ValueError("validity must be positive")
    cert_id = query.cert_ids[0]
    if not is_for_issuer(cert_id, issuer_cert):
        return unauthorized_response()
    return sign_answer(cert_id, status_of(cert_id.serial), query.nonce, issuer_cert,
                          responder_cert, responder_key, now, validity)


@functools.cache
def malformed_response() -> bytes:
    """The unsigned OCSPResponse with status malformedRequest (1)."""
    return ocsp.OCSPResponseBuilder.build_unsuccessful(
        ocsp.OCSPResponseStatus.MALFORMED_REQUEST).public_bytes(serialization.Encoding.DER)


@functools.cache
def unauthorized_response() -> bytes:
    """The unsigned OCSPResponse with status unauthorized (6)."""
    return ocsp.OCSPResponseBuilder.build_unsuccessful(
        ocsp.OCSPResponseStatus.UNAUTHORIZED).public_bytes(serialization.Encoding.DER)
