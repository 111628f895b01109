"""The two-tier CA: `init_ca` creates root and issuing CA once; `CertificateAuthority` signs leaves.

Issuance lints first: the leaf is signed with a throwaway key of the issuing key's type, linted
with pkilint, and signed for real only when no blocking finding remains.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from service.ca.keystore import (CaKeyType, SigningKey, generate_key, load_certificate, load_private_key, signature_hash,
                                write_certificate, write_private_key)
from service.ca.lint import LeafKind, LintFinding, Linter
from service.ca.profile import IssueOrder, Urls, ca_name, issuing_builder, leaf_builder, leaf_names, root_builder
from service.errors import CaError, LintFailed

log = logging.getLogger("certgate.ca")

ROOT_YEARS = 15
ISSUING_YEARS = 5
CA_ORGANIZATION = "certgate"
CA_COUNTRY = "US"


@dataclass(frozen=True)
class CaPaths:
    """Where the CA's files live under `<data dir>/ca`; `generation` picks the issuing CA's files.

    Generation 1 is `issuing.pem`; a rollover's generation N is `issuing-N.pem` beside it.
    """

    root: Path
    generation: int = 1

    @property
    def _issuing_stem(self) -> str:
        return "issuing" if self.generation == 1 else f"issuing-{self.generation}"

    @property
    def root_key(self) -> Path:
        return self.root / "root.key.pem"

    @property
    def root_cert(self) -> Path:
        return self.root / "root.pem"

    @property
    def issuing_key(self) -> Path:
        return self.root / f"{self._issuing_stem}.key.pem"

    @property
    def issuing_cert(self) -> Path:
        return self.root / f"{self._issuing_stem}.pem"

    def any_exists(self) -> bool:
        return any(p.exists() for p in (self.root_key, self.root_cert, self.issuing_key, self.issuing_cert))


@dataclass(frozen=True)
class IssuedCertificate:
    """A signed leaf and the forms the service stores and answers."""

    certificate: x509.Certificate
    der: bytes
    pem: str
    serial_hex: str
    sha256_fingerprint: str
    waived_lint: tuple[LintFinding, ...] = field(default=())
    dns_names: tuple[str, ...] = ()  # the subjectAltName's dNSName entries, as the builder wrote them
    issuer_generation: int = 1  # which issuing CA signed it (`certgate ca rollover`)


def new_serial() -> int:
    """128 bits from the CSPRNG with the top bit cleared: positive, 16 octets, never zero."""
    return secrets.randbits(127) | 1 << 64


def _root_type(kind: CaKeyType) -> CaKeyType:
    return CaKeyType.P384 if kind in (CaKeyType.P256, CaKeyType.P384) else CaKeyType.RSA4096


def init_ca(ca_dir: Path, key_type: CaKeyType, passphrase: bytes | None, now: datetime, base_url: str) -> bool:
    """Create a root and an issuing CA under `ca_dir`; False (and nothing touched) if any CA file exists.

    The issuing CA gets `key_type`; the root P-384 above EC issuers and RSA-4096 above RSA ones.
    """
    paths = CaPaths(ca_dir)
    if paths.any_exists():
        return False
    ca_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    urls = Urls(base_url.rstrip("/"))
    root_key = generate_key(_root_type(key_type))
    start = now - timedelta(minutes=5)
    root = root_builder(root_key, ca_name("certgate Root CA", CA_ORGANIZATION, CA_COUNTRY), new_serial(), start,
                        start + timedelta(days=365 * ROOT_YEARS)).sign(root_key, signature_hash(root_key))
    issuing_key = generate_key(key_type)
    issuing = issuing_builder(issuing_key.public_key(), ca_name("certgate Issuing CA 1", CA_ORGANIZATION, CA_COUNTRY), root,
                              new_serial(), start, start + timedelta(days=365 * ISSUING_YEARS), urls).sign(root_key, signature_hash(root_key))
    write_private_key(paths.root_key, root_key, passphrase)
    write_private_key(paths.issuing_key, issuing_key, passphrase)
    write_certificate(paths.root_cert, root)
    write_certificate(paths.issuing_cert, issuing)
    return True


class CertificateAuthority:
    """The issuing CA loaded from disk: signs leaves (after lint), exposes the chain."""

    def __init__(self, paths: CaPaths, root_cert: x509.Certificate, issuing_cert: x509.Certificate,
                 issuing_key: SigningKey, base_url: str, passphrase: bytes | None) -> None:
        self.paths = paths
        self.root_cert = root_cert
        self.issuing_cert = issuing_cert
        self._key = issuing_key
        self._passphrase = passphrase
        self.generation = paths.generation
        self.urls = Urls(base_url.rstrip("/"), paths.generation)
        self._throwaway = trial_key(issuing_key)
        self.chain_pem = (issuing_cert.public_bytes(serialization.Encoding.PEM)
                          + root_cert.public_bytes(serialization.Encoding.PEM)).decode()

    @classmethod
    def load(cls, ca_dir: Path, passphrase: bytes | None, base_url: str, generation: int = 1) -> CertificateAuthority:
        """Load the CA that `init_ca` created (or the issuing CA of a later `generation`).

        Raises:
            CaError: files missing, unreadable, or the passphrase is wrong.
        """
        paths = CaPaths(ca_dir, generation)
        if not paths.issuing_key.exists():
            raise CaError(f"no CA under {ca_dir}: run 'certgate init'")
        issuing_key = load_private_key(paths.issuing_key, passphrase)
        issuing_cert = load_certificate(paths.issuing_cert)
        if issuing_cert.public_key() != issuing_key.public_key():
            raise CaError("the issuing key does not match the issuing certificate")
        return cls(paths, load_certificate(paths.root_cert), issuing_cert, issuing_key, base_url, passphrase)

    def issue(self, order: IssueOrder, *, linter: Linter | None,
              waive: Callable[[LintFinding], bool] | None = None,
              amend: Callable[[list[LintFinding]], list[LintFinding]] | None = None) -> IssuedCertificate:
        """Sign a leaf built from `order` only; lint it first when a linter is given.

        `amend` may replace lint findings by the project's own verdict on the same question
        (the IP-reservation finding: `service.issuance.ip_lint_amendment`) before `waive` runs.

        Raises:
            LintFailed: a blocking lint finding that `waive` does not accept.
            CaError: signing failed.
        """
        names = leaf_names(order)
        builder = leaf_builder(order, self.issuing_cert, self.urls, names)
        waived: list[LintFinding] = []
        if linter is not None:
            trial = builder.sign(self._throwaway, signature_hash(self._key))
            blocking = []
            kind = LeafKind.OV if order.organization else LeafKind.DV
            findings = linter.lint(trial.public_bytes(serialization.Encoding.DER), kind)
            for finding in amend(findings) if amend is not None else findings:
                if not finding.severity.is_blocking:
                    continue
                if waive is not None and waive(finding):
                    waived.append(finding)
                else:
                    blocking.append(finding)
            if blocking:
                raise LintFailed("the certificate failed pre-issuance linting", violations=[f.as_violation() for f in blocking])
        try:
            cert = builder.sign(self._key, signature_hash(self._key))
        except (ValueError, TypeError) as exc:
            raise CaError(f"the issuing CA could not sign: {exc}") from None
        der = cert.public_bytes(serialization.Encoding.DER)
        dns_names = tuple(entry.value for entry in names[1] if isinstance(entry, x509.DNSName))
        return IssuedCertificate(cert, der, cert.public_bytes(serialization.Encoding.PEM).decode(),
                                 format(cert.serial_number, "x"), hashlib.sha256(der).hexdigest(), tuple(waived), dns_names,
                                 self.generation)

    def can_sign(self) -> bool:
        """A health probe: the issuing key signs and its signature verifies."""
        try:
            probe = b"certgate health probe"
            if isinstance(self._key, ec.EllipticCurvePrivateKey):
                sig = self._key.sign(probe, ec.ECDSA(signature_hash(self._key)))
                self._key.public_key().verify(sig, probe, ec.ECDSA(signature_hash(self._key)))
            else:
                from cryptography.hazmat.primitives.asymmetric import padding

                sig = self._key.sign(probe, padding.PKCS1v15(), signature_hash(self._key))
                self._key.public_key().verify(sig, probe, padding.PKCS1v15(), signature_hash(self._key))
            return True
        except Exception:  # noqa: BLE001 - any failure means the key is unusable
            return False

    @property
    def issuing_key(self) -> SigningKey:
        """The issuing key, for CRL and OCSP signing inside `service.ca` only."""
        return self._key

    def load_root_key(self) -> SigningKey:
        """The root key, read from disk on demand (only to sign the root's CRL).

        Raises:
            CaError: unreadable or wrong passphrase.
        """
        return load_private_key(self.paths.root_key, self._passphrase)


TRIAL_RSA_BITS = 1024


def trial_key(key: SigningKey) -> SigningKey:
    """The throwaway key that signs the certificate the linter sees, never one that is issued.

    The trial must carry the real signature algorithm (key type and digest, which the linter
    checks) but its signature is discarded and nothing checks it: pkilint never reads a
    certificate's signatureValue. So an EC issuer gets a key on its own curve, and an RSA issuer
    a 1024-bit key signing with the issuer's digest: an RSA-3072 signature costs 3.3 ms, an
    RSA-1024 one 0.1 ms, on every linted issuance. `tests/service/ca/test_trial_key.py` checks
    that the findings are those of a full-size trial key.
    """
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return ec.generate_private_key(key.curve)
    return rsa.generate_private_key(65537, TRIAL_RSA_BITS)
