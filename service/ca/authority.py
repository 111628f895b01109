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

from service.ca.hsm import TokenConfig, open_token
from service.ca.keystore import (CaKeyType, SigningKey, generate_key, load_certificate, load_private_key,
                                write_certificate, write_private_key)
from service.ca.lint import LeafKind, LintFinding, Linter
from service.ca.signer import TRIAL_RSA_BITS, CaKey, CaPublicKey, FileKey, as_ca_key
from service.ca.signer import trial_key as _trial_key_for
from service.ca.token_key import TokenKey
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


def root_type(kind: CaKeyType) -> CaKeyType:
    return CaKeyType.P384 if kind in (CaKeyType.P256, CaKeyType.P384) else CaKeyType.RSA4096


def init_ca(ca_dir: Path, key_type: CaKeyType, passphrase: bytes | None, now: datetime, base_url: str) -> bool:
    """Create a root and an issuing CA under `ca_dir`; False (and nothing touched) if any CA file exists.

    The issuing CA gets `key_type`; the root P-384 above EC issuers and RSA-4096 above RSA ones.
    """
    paths = CaPaths(ca_dir)
    if paths.any_exists():
        return False
    ca_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    root_key = generate_key(root_type(key_type))
    issuing_key = generate_key(key_type)
    root, issuing = build_ca_certificates(FileKey(root_key), issuing_key.public_key(), now, base_url)
    write_private_key(paths.root_key, root_key, passphrase)
    write_private_key(paths.issuing_key, issuing_key, passphrase)
    write_certificate(paths.root_cert, root)
    write_certificate(paths.issuing_cert, issuing)
    return True


def build_ca_certificates(root_key: CaKey, issuing_public: CaPublicKey, now: datetime,
                          base_url: str) -> tuple[x509.Certificate, x509.Certificate]:
    """The self-signed root and the issuing CA certificate under it, both signed by `root_key`.

    Raises:
        CaError, TokenUnavailable: the root key cannot sign.
    """
    start = now - timedelta(minutes=5)
    root = root_key.sign_certificate(root_builder(
        root_key.public_key(), ca_name("certgate Root CA", CA_ORGANIZATION, CA_COUNTRY), new_serial(), start,
        start + timedelta(days=365 * ROOT_YEARS)))
    issuing = root_key.sign_certificate(issuing_builder(
        issuing_public, ca_name("certgate Issuing CA 1", CA_ORGANIZATION, CA_COUNTRY), root, new_serial(), start,
        start + timedelta(days=365 * ISSUING_YEARS), Urls(base_url.rstrip("/"))))
    return root, issuing


class CertificateAuthority:
    """The issuing CA loaded from disk: signs leaves (after lint), exposes the chain."""

    def __init__(self, paths: CaPaths, root_cert: x509.Certificate, issuing_cert: x509.Certificate,
                 issuing_key: CaKey | SigningKey, base_url: str, passphrase: bytes | None,
                 token: TokenConfig | None = None) -> None:
        self.paths = paths
        self.root_cert = root_cert
        self.issuing_cert = issuing_cert
        self._key = as_ca_key(issuing_key)
        self._passphrase = passphrase
        self._token = token
        self.generation = paths.generation
        self.urls = Urls(base_url.rstrip("/"), paths.generation)
        self._throwaway = _trial_key_for(self._key.public_key())
        self.chain_pem = (issuing_cert.public_bytes(serialization.Encoding.PEM)
                          + root_cert.public_bytes(serialization.Encoding.PEM)).decode()

    @classmethod
    def load(cls, ca_dir: Path, passphrase: bytes | None, base_url: str, generation: int = 1, *,
             token: TokenConfig | None = None) -> CertificateAuthority:
        """Load the CA that `init_ca` (file keys) or `init_token_ca` (keys in `token`) created, or
        the issuing CA of a later `generation` (`certgate ca rollover`).

        Raises:
            CaError: files missing, unreadable, the passphrase is wrong, or a key does not match.
            TokenUnavailable: the keys are in a token that is missing, locked or lacks the key.
        """
        paths = CaPaths(ca_dir, generation)
        if not paths.issuing_cert.exists():
            raise CaError(f"no CA under {ca_dir}: run 'certgate init'")
        issuing_cert = load_certificate(paths.issuing_cert)
        issuing_key = load_ca_key(paths.issuing_key, passphrase, token, "issuing", issuing_cert, generation)
        return cls(paths, load_certificate(paths.root_cert), issuing_cert, issuing_key, base_url, passphrase, token)

    def issue(self, order: IssueOrder, *, linter: Linter | None,
              waive: Callable[[LintFinding], bool] | None = None,
              amend: Callable[[list[LintFinding]], list[LintFinding]] | None = None,
              names: tuple[x509.Name, list[x509.GeneralName]] | None = None) -> IssuedCertificate:
        """Sign a leaf built from `order` only; lint it first when a linter is given.

        `amend` may replace lint findings by the project's own verdict on the same question
        (the IP-reservation finding: `service.issuance.ip_lint_amendment`) before `waive` runs.
        `names` is `leaf_names(order)` when the caller computed it already.

        Raises:
            LintFailed: a blocking lint finding that `waive` does not accept.
            CaError: signing failed.
        """
        names = names if names is not None else leaf_names(order)
        builder = leaf_builder(order, self.issuing_cert, self.urls, names)
        waived: list[LintFinding] = []
        trial = None
        if linter is not None:
            trial = builder.sign(self._throwaway, self._key.hash_algorithm)
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
            cert = self._key.sign_certificate(builder, trial)
        except (ValueError, TypeError) as exc:
            raise CaError(f"the issuing CA could not sign: {exc}") from None
        der = cert.public_bytes(serialization.Encoding.DER)
        dns_names = tuple(entry.value for entry in names[1] if isinstance(entry, x509.DNSName))
        return IssuedCertificate(cert, der, cert.public_bytes(serialization.Encoding.PEM).decode(),
                                 format(cert.serial_number, "x"), hashlib.sha256(der).hexdigest(), tuple(waived), dns_names,
                                 self.generation)

    def can_sign(self) -> bool:
        """A health probe: the issuing key signs and its signature verifies."""
        return self._key.can_sign()

    @property
    def token(self) -> TokenConfig | None:
        """The PKCS#11 token configured for CA keys (None: file keys only)."""
        return self._token

    @property
    def issuing_key(self) -> CaKey:
        """The issuing key, for CRL and OCSP signing inside `service.ca` only."""
        return self._key

    def load_root_key(self) -> CaKey:
        """The root key, from its file or the token, on demand (only to sign the root's CRL).

        Raises:
            CaError: unreadable, wrong passphrase, or not the root certificate's key.
            TokenUnavailable: the token is missing, locked or lacks the key.
        """
        return load_ca_key(self.paths.root_key, self._passphrase, self._token, "root", self.root_cert)


def load_ca_key(path: Path, passphrase: bytes | None, token: TokenConfig | None, role: str,
                cert: x509.Certificate, generation: int = 1) -> CaKey:
    """The key of CA certificate `cert`: from `path` when that file exists, else from the token.

    `role` ("root", "issuing", "ocsp") picks the token label from `token`; an issuing key's label
    also depends on its `generation` (`TokenConfig.issuing_label_for`).

    Raises:
        CaError: no file and no token configured, unreadable, or not `cert`'s key.
        TokenUnavailable: the token is missing, locked or lacks the key.
    """
    if path.exists():
        key = FileKey(load_private_key(path, passphrase))
        if key.public_key() != cert.public_key():
            raise CaError(f"the {role} key does not match the {role} certificate")
        return key
    if token is None:
        raise CaError(f"no {path.name} and no PKCS#11 token configured: set CERTGATE_PKCS11_MODULE "
                      "for a CA made with 'certgate init --hsm'")
    label = {"root": token.root_label, "issuing": token.issuing_label_for(generation)}.get(role, token.ocsp_label)
    if label is None:
        raise CaError(f"no {role} key label configured for the PKCS#11 token")
    public = cert.public_key()
    if not isinstance(public, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)):
        raise CaError(f"the {role} certificate's key is neither EC nor RSA")
    return TokenKey.bind(open_token(token), label, public)


def trial_key(key: CaKey | SigningKey) -> SigningKey:
    """The throwaway key that signs the certificate the linter sees (see `signer.trial_key`).

    `tests/service/ca/test_trial_key.py` checks that the findings are those of a full-size key.
    """
    return _trial_key_for(key.public_key())


__all__ = ["TRIAL_RSA_BITS", "CertificateAuthority", "IssuedCertificate", "init_ca", "load_ca_key", "trial_key"]
