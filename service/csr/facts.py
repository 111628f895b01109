"""Plain facts from verified CSRs: the bridge from `cryptography` objects to `policies.facts`."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from policies.facts import KeyAlgorithm, KeyFacts, RequestFacts
from service.csr.der_checks import key_type_rejection

if TYPE_CHECKING:
    from service.csr.parse import VerifiedCsr

# OpenSSL's EVP_PKEY_bits for the Edwards curves; the policy decides on them by kind, not size.
_ED25519_BITS = 256
_ED448_BITS = 456


def key_facts(public_key: CertificatePublicKeyTypes) -> KeyFacts:
    """What the policy needs to know about a subject public key.

    `spki_sha256` hashes the key re-encoded by `cryptography`, so the same EC key sent with a
    compressed or an uncompressed point has one blocklist identity.

    Raises:
        PolicyRejected: `key_type_not_allowed` for a key type without facts (X25519 and the like).
    """
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashlib.sha256(spki).hexdigest()
    if isinstance(public_key, rsa.RSAPublicKey):
        numbers = public_key.public_numbers()
        return KeyFacts(
            algorithm=KeyAlgorithm.RSA,
            bits=public_key.key_size,
            spki_sha256=digest,
            rsa_modulus=numbers.n,
            rsa_exponent=numbers.e,
        )
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return KeyFacts(
            algorithm=KeyAlgorithm.EC,
            bits=public_key.curve.key_size,
            spki_sha256=digest,
            curve=public_key.curve.name,
        )
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return KeyFacts(algorithm=KeyAlgorithm.ED25519, bits=_ED25519_BITS, spki_sha256=digest)
    if isinstance(public_key, ed448.Ed448PublicKey):
        return KeyFacts(algorithm=KeyAlgorithm.ED448, bits=_ED448_BITS, spki_sha256=digest)
    if isinstance(public_key, dsa.DSAPublicKey):
        return KeyFacts(algorithm=KeyAlgorithm.DSA, bits=public_key.key_size, spki_sha256=digest)
    kind = type(public_key).__name__
    raise key_type_rejection(f"key type {kind} is not allowed", f"public key ({kind})")


def request_facts(csr: VerifiedCsr, requested_validity_days: int | None) -> RequestFacts:
    """The facts a policy decision is made on: the verified CSR plus what was asked for.

    `requested_validity_days` is passed through untouched; the validity rule judges it.
    """
    return RequestFacts(
        key=csr.key,
        common_name=csr.common_name,
        dns_names=csr.dns_names,
        ip_addresses=csr.ip_addresses,
        csr_sha256=csr.sha256,
        requested_validity_days=requested_validity_days,
    )
