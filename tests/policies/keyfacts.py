"""Key facts for the policy tests: from real `cryptography` keys, or from bare RSA numbers."""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from policies.facts import KeyAlgorithm, KeyFacts

PublicKey = (
    rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey | dsa.DSAPublicKey
)


def spki_sha256(public_key: PublicKey) -> str:
    """The blocklist identity: SHA-256 of the DER SubjectPublicKeyInfo."""
    return hashlib.sha256(public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).hexdigest()


def facts_of(public_key: PublicKey) -> KeyFacts:
    """What the service extracts from a CSR's key, done here with `cryptography` directly."""
    digest = spki_sha256(public_key)
    if isinstance(public_key, rsa.RSAPublicKey):
        numbers = public_key.public_numbers()
        return KeyFacts(KeyAlgorithm.RSA, public_key.key_size, digest, rsa_modulus=numbers.n, rsa_exponent=numbers.e)
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return KeyFacts(KeyAlgorithm.EC, public_key.curve.key_size, digest, curve=public_key.curve.name)
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return KeyFacts(KeyAlgorithm.ED25519, 256, digest)
    if isinstance(public_key, ed448.Ed448PublicKey):
        return KeyFacts(KeyAlgorithm.ED448, 456, digest)
    return KeyFacts(KeyAlgorithm.DSA, public_key.key_size, digest)


def rsa_facts(modulus: int, exponent: int = 65537) -> KeyFacts:
    """Facts for a modulus built by hand; its SPKI digest is a stand-in derived from the modulus."""
    stand_in = hashlib.sha256(b"test-modulus:" + modulus.to_bytes((modulus.bit_length() + 7) // 8, "big")).hexdigest()
    return KeyFacts(KeyAlgorithm.RSA, modulus.bit_length(), stand_in, rsa_modulus=modulus, rsa_exponent=exponent)
