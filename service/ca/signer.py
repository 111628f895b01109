"""The signing seam: a CA key signs certificates, CRLs and OCSP answers, wherever it lives.

`FileKey` holds a private key in memory (read from an encrypted file) and lets `cryptography`
sign. `service.ca.hsm.TokenKey` keeps the key in a PKCS#11 token: the builder signs with a
throwaway key of the same algorithm, the token signs the to-be-signed bytes, and the DER is
reassembled around the token's signature (`service.ca.reassemble`). Callers see one interface.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp

from service.ca.keystore import SignatureHash, SigningKey, signature_hash

CaPublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey
TRIAL_RSA_BITS = 1024


class CaKey(ABC):
    """A CA private key: signs X.509 structures and exposes its public key."""

    @abstractmethod
    def public_key(self) -> CaPublicKey:
        """The public half (what the CA certificate carries)."""

    @property
    def hash_algorithm(self) -> SignatureHash:
        """The digest this key signs with (SHA-256 for P-256 and RSA, SHA-384 for P-384)."""
        return public_signature_hash(self.public_key())

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the key lives, for operators: "file" or "pkcs11:<token>/<label>"."""

    @abstractmethod
    def sign_certificate(self, builder: x509.CertificateBuilder,
                         trial: x509.Certificate | None = None) -> x509.Certificate:
        """Sign `builder`; `trial` is the same certificate signed by a same-algorithm throwaway key.

        Raises:
            CaError: the key cannot sign; TokenUnavailable: the token is missing, locked or failed.
        """

    @abstractmethod
    def sign_crl(self, builder: x509.CertificateRevocationListBuilder) -> x509.CertificateRevocationList:
        """Sign a CRL (raises as `sign_certificate`)."""

    @abstractmethod
    def sign_ocsp(self, builder: ocsp.OCSPResponseBuilder, responder_cert: x509.Certificate) -> ocsp.OCSPResponse:
        """Sign an OCSP answer as `responder_cert` (named by key hash; raises as `sign_certificate`)."""

    @abstractmethod
    def sign_bytes(self, data: bytes) -> bytes:
        """A raw signature over `data` (ECDSA DER or PKCS#1 v1.5), with `hash_algorithm`."""

    def fingerprint(self) -> str:
        """SHA-256 of the public key's SubjectPublicKeyInfo, hex (what a key ceremony records)."""
        spki = self.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
        return hashlib.sha256(spki).hexdigest()

    def can_sign(self) -> bool:
        """A health probe: the key signs and its signature verifies under the public key."""
        probe = b"certgate health probe"
        try:
            verify_signature(self.public_key(), self.sign_bytes(probe), probe, self.hash_algorithm)
            return True
        except Exception:  # noqa: BLE001 - any failure means the key is unusable
            return False


class FileKey(CaKey):
    """A private key held in memory; `cryptography` signs directly."""

    def __init__(self, private_key: SigningKey) -> None:
        self.private_key = private_key
        self._hash = signature_hash(private_key)

    def public_key(self) -> CaPublicKey:
        return self.private_key.public_key()

    @property
    def hash_algorithm(self) -> SignatureHash:
        return self._hash

    @property
    def location(self) -> str:
        return "file"

    def sign_certificate(self, builder: x509.CertificateBuilder,
                         trial: x509.Certificate | None = None) -> x509.Certificate:
        return builder.sign(self.private_key, self._hash)

    def sign_crl(self, builder: x509.CertificateRevocationListBuilder) -> x509.CertificateRevocationList:
        return builder.sign(self.private_key, self._hash)

    def sign_ocsp(self, builder: ocsp.OCSPResponseBuilder, responder_cert: x509.Certificate) -> ocsp.OCSPResponse:
        return builder.responder_id(ocsp.OCSPResponderEncoding.HASH, responder_cert).sign(self.private_key, self._hash)

    def sign_bytes(self, data: bytes) -> bytes:
        if isinstance(self.private_key, ec.EllipticCurvePrivateKey):
            return self.private_key.sign(data, ec.ECDSA(self._hash))
        return self.private_key.sign(data, padding.PKCS1v15(), self._hash)


def as_ca_key(key: CaKey | SigningKey) -> CaKey:
    """A `CaKey` for `key` (a bare private key becomes a `FileKey`)."""
    return key if isinstance(key, CaKey) else FileKey(key)


def public_signature_hash(public_key: CaPublicKey) -> SignatureHash:
    """The digest a key of this type signs with (as `keystore.signature_hash`, from the public half).

    Raises:
        ValueError: a curve certgate does not sign with.
    """
    if isinstance(public_key, rsa.RSAPublicKey):
        return hashes.SHA256()
    return signature_hash_for_curve(public_key.curve.name)


def signature_hash_for_curve(curve: str) -> SignatureHash:
    """SHA-256 for P-256, SHA-384 for P-384, SHA-512 for P-521.

    Raises:
        ValueError: any other curve.
    """
    digests: dict[str, SignatureHash] = {"secp256r1": hashes.SHA256(), "secp384r1": hashes.SHA384(),
                                         "secp521r1": hashes.SHA512()}
    if curve not in digests:
        raise ValueError(f"unsupported signing curve {curve}")
    return digests[curve]


def verify_signature(public_key: CaPublicKey, signature: bytes, data: bytes, digest: SignatureHash) -> None:
    """Check `signature` over `data`.

    Raises:
        cryptography.exceptions.InvalidSignature: it does not verify.
    """
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        public_key.verify(signature, data, ec.ECDSA(digest))
    else:
        public_key.verify(signature, data, padding.PKCS1v15(), digest)


def trial_key(public_key: CaPublicKey) -> SigningKey:
    """The throwaway key whose signature algorithm matches a CA key with this public half.

    Its signatures are never issued: the linter reads the trial certificate (pkilint never reads
    signatureValue), and a token key takes the trial's to-be-signed bytes, which depend only on
    the algorithm identifier. So an EC key gets a key on its own curve, an RSA key a 1024-bit key
    signing with the same digest: an RSA-3072 signature costs 3.3 ms, an RSA-1024 one 0.1 ms.
    """
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return ec.generate_private_key(public_key.curve)
    return rsa.generate_private_key(65537, TRIAL_RSA_BITS)
