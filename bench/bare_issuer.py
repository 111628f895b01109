"""A bare reference issuer: load a CSR, sign it with a CA key, answer the PEM (no policy, no DB).

It is the yardstick for `bench/issuance.py`: the same Flask, the same gunicorn settings as
certgate (`service.process.server.server_options`: sync workers, preloaded app), and only the work any
issuer must do. `issue_pem` is also the raw crypto loop of the benchmark's row (a).

With `--rows DB`, target (e), it also writes the rows certgate writes for one issuance into DB
(a database certgate created) in one SQLite transaction (`bench/bare_rows.py`), and answers the
same PEM; `--checkpoint-thread`, target (f), adds certgate's background WAL checkpoints.

By default it signs with a throwaway P-256 CA of its own; `--ca-cert PEM --ca-key PEM` signs with
a given CA instead (`bench/peer_cfssl.py` passes certgate's issuing CA files, as it does to cfssl),
with the digest certgate picks for that key (`service.ca.keystore.signature_hash`).

    python bench/bare_issuer.py --port 8100 --workers 2 [--ca-cert ISSUING.pem --ca-key ISSUING.key.pem]
        [--rows DATA/certgate.db [--checkpoint-thread]]
"""

from __future__ import annotations

import argparse
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from flask import Flask, Response, request
from gunicorn.app.base import BaseApplication

if TYPE_CHECKING:
    from bare_rows import RowWriter

VALIDITY = timedelta(days=90)

SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
Digest = hashes.SHA256 | hashes.SHA384 | hashes.SHA512


class CaLoadError(ValueError):
    """The CA files are unreadable, encrypted, not a signing key, or the key is not the certificate's."""


@dataclass(frozen=True)
class BareCa:
    """The CA the bare issuer signs with, loaded or made once per process (before gunicorn forks)."""

    key: SigningKey
    cert: x509.Certificate
    aki: x509.AuthorityKeyIdentifier
    digest: Digest = field(default_factory=hashes.SHA256)

    @classmethod
    def create(cls, now: datetime) -> BareCa:
        """A fresh CA key and certificate."""
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench bare issuer CA")])
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert, x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski))

    @classmethod
    def load(cls, cert_pem: bytes, key_pem: bytes) -> BareCa:
        """A CA from its PEM certificate and unencrypted PEM key (certgate's issuing CA files, no passphrase).

        The digest is certgate's for that key (SHA-256 for P-256 and RSA), so both sign alike; the
        AKI is the CA certificate's subjectKeyIdentifier (its key's hash if it has none).

        Raises:
            CaLoadError: unreadable or encrypted files, a key that is not RSA or EC, or a key that
                does not belong to the certificate.
        """
        from service.ca.keystore import signature_hash  # certgate's choice of digest, not a copy of it

        try:
            cert = x509.load_pem_x509_certificate(cert_pem)
            key = serialization.load_pem_private_key(key_pem, password=None)
        except (ValueError, TypeError) as exc:
            raise CaLoadError(f"cannot load the CA files: {exc}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise CaLoadError(f"the CA key is a {type(key).__name__}, not RSA or EC")
        if key.public_key() != cert.public_key():
            raise CaLoadError("the CA key does not belong to the CA certificate")
        try:
            ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        except x509.ExtensionNotFound:
            ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        try:
            digest = signature_hash(key)
        except ValueError as exc:
            raise CaLoadError(str(exc)) from None
        return cls(key, cert, x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), digest)

    @classmethod
    def from_files(cls, cert_path: Path, key_path: Path) -> BareCa:
        """`load` on two files.

        Raises:
            CaLoadError: as `load`, or a file cannot be read.
        """
        try:
            return cls.load(cert_path.read_bytes(), key_path.read_bytes())
        except OSError as exc:
            raise CaLoadError(f"cannot read the CA files: {exc}") from None


class BadCsr(ValueError):
    """The body is not a CSR, or its self-signature does not verify."""


@dataclass(frozen=True)
class Leaf:
    """A signed leaf and the CSR it came from (what the row writer of target (e) stores)."""

    csr: x509.CertificateSigningRequest
    certificate: x509.Certificate


def issue_pem(body: bytes, ca: BareCa, now: datetime) -> bytes:
    """Load and verify a PEM CSR, build a TLS leaf (SAN copied, a minimal profile), sign, PEM-encode.

    Raises:
        BadCsr: the body is not a PEM CSR or its signature is invalid.
    """
    return issue_leaf(body, ca, now).certificate.public_bytes(serialization.Encoding.PEM)


def issue_leaf(body: bytes, ca: BareCa, now: datetime) -> Leaf:
    """Load and verify a PEM CSR, build a TLS leaf (SAN copied, a minimal profile) and sign it.

    Raises:
        BadCsr: the body is not a PEM CSR or its signature is invalid.
    """
    try:
        csr = x509.load_pem_x509_csr(body)
    except ValueError as exc:
        raise BadCsr(str(exc)) from None
    if not csr.is_signature_valid:
        raise BadCsr("the CSR signature does not verify")
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = None
    builder = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(ca.cert.subject)
        .public_key(csr.public_key())
        .serial_number(secrets.randbits(127) | 1 << 64)
        .not_valid_before(now)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(ca.aki, critical=False)
    )
    if san is not None:
        builder = builder.add_extension(san, critical=False)
    return Leaf(csr, builder.sign(ca.key, ca.digest))


def create_bare_app(ca: BareCa | None = None, rows: RowWriter | None = None) -> Flask:
    """The reference app: one route, `POST /issue` (raw PEM CSR in, PEM certificate out, 201).

    Given `rows`, each issuance's rows are committed before the answer, as certgate does.
    """
    app = Flask("bare_issuer")
    authority = ca or BareCa.create(datetime.now(UTC))

    @app.post("/issue")
    def issue() -> Response:
        body = request.get_data(cache=False)
        now = datetime.now(UTC)
        try:
            leaf = issue_leaf(body, authority, now)
        except BadCsr as exc:
            return Response(str(exc), status=400, mimetype="text/plain")
        pem = leaf.certificate.public_bytes(serialization.Encoding.PEM)
        if rows is not None:
            rows.record(body, leaf, pem, now)
        return Response(pem, status=201, mimetype="application/pem-certificate-chain")

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok", mimetype="text/plain")

    return app


class _Server(BaseApplication):  # type: ignore[misc]
    """gunicorn over a prebuilt app (no post-fork hook: a row writer connects on its first request)."""

    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--ca-cert", type=Path, metavar="PEM", help="sign with this CA certificate (with --ca-key)")
    parser.add_argument("--ca-key", type=Path, metavar="PEM", help="the CA's unencrypted PEM private key")
    parser.add_argument("--rows", type=Path, metavar="DB",
                        help="also write certgate's rows for each issuance into this certgate SQLite database")
    parser.add_argument("--checkpoint-thread", action="store_true",
                        help="with --rows: WAL checkpoints from a thread in each worker, as `certgate serve` does")
    parser.add_argument("--server", choices=("gunicorn", "granian"), default="gunicorn",
                        help="the HTTP server, with the settings `certgate serve --server` uses (default gunicorn)")
    args = parser.parse_args()
    if args.checkpoint_thread and args.rows is None:
        parser.error("--checkpoint-thread needs --rows")
    if (args.ca_cert is None) != (args.ca_key is None):
        parser.error("--ca-cert and --ca-key go together")
    ca = None
    if args.ca_cert is not None:
        try:
            ca = BareCa.from_files(args.ca_cert, args.ca_key)
        except CaLoadError as exc:
            parser.error(str(exc))
    rows = None
    if args.rows is not None:
        from bare_rows import RowWriter

        rows = RowWriter(args.rows, checkpoint_thread=args.checkpoint_thread)
    # The very settings `certgate serve` uses, so the comparison differs only in the app.
    if args.server == "granian":
        from service.process.granian_server import GranianOptions, run_granian_bare

        run_granian_bare(create_bare_app(ca, rows=rows), GranianOptions(args.host, args.port, args.workers))
        return
    from service.process.server import server_options

    _Server(create_bare_app(ca, rows=rows), server_options(args.host, args.port, args.workers)).run()


if __name__ == "__main__":
    main()
