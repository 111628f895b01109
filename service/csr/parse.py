"""DER to a verified CSR: strict structure, an allowed key type, a valid strong self-signature.

Order matters: structure first (one strict DER pass), then the key type, then the signature
(proof of possession), and only then the names, so nothing is read from an unproven request.

SHA-1 and MD5 self-signatures are refused with `csr_signature_invalid` (not `malformed_csr`):
the request is well formed, but a signature over a collision-prone hash is no proof of possession.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from policies.facts import KeyFacts
from service.csr.decode import decode_csr_body
from service.csr.der_checks import check_csr_der, key_type_rejection
from service.csr.facts import key_facts
from service.csr.names import common_name, subject_alt_names
from service.errors import CsrSignatureInvalid, MalformedCsr

_WEAK_HASHES = (hashes.SHA1, hashes.MD5)


@dataclass(frozen=True)
class VerifiedCsr:
    """A CSR that is strict DER, self-signed with a strong hash, and names at least one host.

    `dns_names` are lowercase (IP literals as sent), `ip_addresses` compressed text;
    `sha256` is the lowercase hex SHA-256 of `der`, the identity an approval is bound to.
    """

    der: bytes
    csr: x509.CertificateSigningRequest
    public_key: CertificatePublicKeyTypes
    common_name: str | None
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    sha256: str
    key: KeyFacts


def parse_csr(der: bytes) -> VerifiedCsr:
    """Parse and verify one DER CSR.

    Raises:
        MalformedCsr: not strict DER or not an unambiguous PKCS#10 request (see
            `der_checks.check_csr_der`), a public key that does not decode, unsupported or
            invalid names, or no name at all.
        PolicyRejected: `key_type_not_allowed` for explicit EC curves, unknown curves and key
            algorithms other than RSA, EC, Ed25519, Ed448 and DSA.
        CsrSignatureInvalid: the self-signature does not verify, uses SHA-1 or MD5, or uses an
            algorithm that cannot be checked.
    """
    check_csr_der(der)
    try:
        csr = x509.load_der_x509_csr(der)
    except ValueError as exc:
        raise MalformedCsr(f"the CSR does not parse: {exc}") from exc
    public_key = _public_key(csr)
    key = key_facts(public_key)
    _verify_signature(csr)
    name = common_name(csr)
    dns_names, ip_addresses = subject_alt_names(csr)
    if name is None and not dns_names and not ip_addresses:
        raise MalformedCsr("the CSR names nothing: no commonName and no subjectAltName")
    return VerifiedCsr(
        der=der,
        csr=csr,
        public_key=public_key,
        common_name=name,
        dns_names=dns_names,
        ip_addresses=ip_addresses,
        sha256=hashlib.sha256(der).hexdigest(),
        key=key,
    )


def load_csr(data: bytes) -> VerifiedCsr:
    """A request body (PEM or DER) to a verified CSR: `parse_csr(decode_csr_body(data))`.

    Raises:
        MalformedCsr, PolicyRejected, CsrSignatureInvalid: as `decode_csr_body` and `parse_csr`.
    """
    return parse_csr(decode_csr_body(data))


def _public_key(csr: x509.CertificateSigningRequest) -> CertificatePublicKeyTypes:
    try:
        return csr.public_key()
    except UnsupportedAlgorithm as exc:
        # a named curve OpenSSL does not know, or a key type cryptography cannot load
        raise key_type_rejection(f"the key type is not allowed: {exc}", "public key") from exc
    except ValueError as exc:
        raise MalformedCsr(f"the public key does not decode: {exc}") from exc


def _verify_signature(csr: x509.CertificateSigningRequest) -> None:
    try:
        algorithm = csr.signature_hash_algorithm
        if isinstance(algorithm, _WEAK_HASHES):
            raise CsrSignatureInvalid(
                f"the CSR is signed with {algorithm.name.upper()}; sign it with SHA-256 or better"
            )
        valid = csr.is_signature_valid
    except (UnsupportedAlgorithm, ValueError) as exc:
        raise CsrSignatureInvalid(f"the CSR's signature algorithm is not supported: {exc}") from exc
    if not valid:
        raise CsrSignatureInvalid("the CSR's signature does not verify (no proof of possession)")
