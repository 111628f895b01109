"""`TokenKey`: a CA key inside a PKCS#11 token, signing what `cryptography`'s builders make.

The builder signs with a throwaway key of the same algorithm (its to-be-signed bytes depend on
the algorithm identifier only, never on the key); the token signs those bytes; the DER is
reassembled around the token's signature and parsed again; the signature is checked with the
CA's public key before anything is returned. A failure anywhere raises, so the caller's
transaction never records a certificate the token did not sign.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from service.ca.hsm import Token
from service.ca.reassemble import (DerLayoutError, basic_ocsp_of, ocsp_with_responder_key_hash, ocsp_with_signature,
                                   tbs_of, with_signature)
from service.ca.keystore import SignatureHash
from service.ca.signer import CaKey, CaPublicKey, public_signature_hash, trial_key, verify_signature
from service.errors import CaError, TokenUnavailable


class TokenKey(CaKey):
    """The private key labelled `label` in `token`, whose public half is `public_key`."""

    def __init__(self, token: Token, label: str, public_key: CaPublicKey) -> None:
        self.token = token
        self.label = label
        self._public = public_key
        self._hash = public_signature_hash(public_key)
        self._trial = trial_key(public_key)
        self._trial_cert: x509.Certificate | None = None

    @classmethod
    def bind(cls, token: Token, label: str, expected: CaPublicKey) -> TokenKey:
        """The token key `label`, checked to sign for `expected` (the CA certificate's key).

        Raises:
            TokenUnavailable: the token or the key is missing, or the token is locked.
            CaError: the key in the token is not the certificate's.
        """
        key = cls(token, label, expected)
        probe = b"certgate: does the token key match the certificate?"
        try:
            verify_signature(expected, key.sign_bytes(probe), probe, key.hash_algorithm)
        except (InvalidSignature, ValueError):
            raise CaError(f"the token key {label!r} does not match its CA certificate") from None
        return key

    def public_key(self) -> CaPublicKey:
        return self._public

    @property
    def hash_algorithm(self) -> SignatureHash:
        return self._hash

    @property
    def location(self) -> str:
        return f"pkcs11:{self.token.config.token_label}/{self.label}"

    def sign_bytes(self, data: bytes) -> bytes:
        return self.token.sign(self.label, data, self._public, self._hash)

    def sign_certificate(self, builder: x509.CertificateBuilder,
                         trial: x509.Certificate | None = None) -> x509.Certificate:
        draft = (trial or builder.sign(self._trial, self._hash)).public_bytes(serialization.Encoding.DER)
        cert = x509.load_der_x509_certificate(self._resign(draft))
        self._check(cert.signature, cert.tbs_certificate_bytes)
        return cert

    def sign_crl(self, builder: x509.CertificateRevocationListBuilder) -> x509.CertificateRevocationList:
        draft = builder.sign(self._trial, self._hash).public_bytes(serialization.Encoding.DER)
        crl = x509.load_der_x509_crl(self._resign(draft))
        self._check(crl.signature, crl.tbs_certlist_bytes)
        return crl

    def sign_ocsp(self, builder: ocsp.OCSPResponseBuilder, responder_cert: x509.Certificate) -> ocsp.OCSPResponse:
        draft = (builder.responder_id(ocsp.OCSPResponderEncoding.HASH, self._trial_responder())
                 .sign(self._trial, self._hash).public_bytes(serialization.Encoding.DER))
        key_hash = x509.SubjectKeyIdentifier.from_public_key(responder_cert.public_key()).digest
        try:
            draft = ocsp_with_responder_key_hash(draft, key_hash)
            signature = self.sign_bytes(tbs_of(basic_ocsp_of(draft)))
            response = ocsp.load_der_ocsp_response(ocsp_with_signature(draft, signature))
        except DerLayoutError as exc:
            raise CaError(f"cannot reassemble the OCSP response: {exc}") from None
        self._check(response.signature, response.tbs_response_bytes)
        return response

    def _trial_responder(self) -> x509.Certificate:
        """A certificate for the trial key: `cryptography` wants the responder's to match the key."""
        if self._trial_cert is None:
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "certgate trial responder")])
            start = datetime(2000, 1, 1, tzinfo=UTC)
            self._trial_cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                                .public_key(self._trial.public_key()).serial_number(1).not_valid_before(start)
                                .not_valid_after(start + timedelta(days=1)).sign(self._trial, self._hash))
        return self._trial_cert

    def _resign(self, draft: bytes) -> bytes:
        try:
            return with_signature(draft, self.sign_bytes(tbs_of(draft)))
        except DerLayoutError as exc:
            raise CaError(f"cannot reassemble the signed structure: {exc}") from None

    def _check(self, signature: bytes, tbs: bytes) -> None:
        """The token's signature verifies under the CA key, or nothing leaves here."""
        try:
            verify_signature(self._public, signature, tbs, self._hash)
        except InvalidSignature:
            raise TokenUnavailable(f"the token's signature with {self.label!r} did not verify") from None
