"""CA key and certificate files: created 0600 from the start, encrypted when a passphrase is set."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from service.errors import CaError

SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
SignatureHash = hashes.SHA256 | hashes.SHA384 | hashes.SHA512


class CaKeyType(StrEnum):
    """Key types a CA may use (never RSA below 3072 for a CA)."""

    P256 = "p256"
    P384 = "p384"
    RSA3072 = "rsa3072"
    RSA4096 = "rsa4096"


def generate_key(kind: CaKeyType) -> SigningKey:
    """A new private key of `kind`."""
    if kind is CaKeyType.P256:
        return ec.generate_private_key(ec.SECP256R1())
    if kind is CaKeyType.P384:
        return ec.generate_private_key(ec.SECP384R1())
    return rsa.generate_private_key(65537, 3072 if kind is CaKeyType.RSA3072 else 4096)


def signature_hash(key: SigningKey) -> SignatureHash:
    """The digest to sign with, matched to the key's strength (SHA-384 for P-384, SHA-512 for P-521).

    Raises:
        ValueError: the key is neither RSA nor a NIST curve certgate signs with.
    """
    if isinstance(key, rsa.RSAPrivateKey):
        return hashes.SHA256()
    curve = key.curve.name
    if curve == "secp256r1":
        return hashes.SHA256()
    if curve == "secp384r1":
        return hashes.SHA384()
    if curve == "secp521r1":
        return hashes.SHA512()
    raise ValueError(f"unsupported signing curve {curve}")


def write_file_atomically(path: Path, data: bytes, mode: int) -> None:
    """Write `data` to a new file created with `mode` (never widened), then rename into place."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)  # a leftover of a crash; O_EXCL below refuses to follow links
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_private_key(path: Path, key: PrivateKeyTypes, passphrase: bytes | None) -> None:
    """Store a private key as PKCS#8 PEM, mode 0600, encrypted when `passphrase` is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    write_file_atomically(path, data, 0o600)


def load_private_key(path: Path, passphrase: bytes | None) -> SigningKey:
    """Read a private key written by `write_private_key`.

    Raises:
        CaError: missing, unreadable, encrypted without a passphrase, or the wrong passphrase.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CaError(f"cannot read key file {path.name}: {exc.strerror}") from None
    encrypted = b"ENCRYPTED" in data.split(b"\n", 1)[0]
    if encrypted and not passphrase:
        raise CaError(f"{path.name} is encrypted: set CERTGATE_CA_PASSPHRASE")
    try:
        key = serialization.load_pem_private_key(data, password=passphrase if encrypted else None)
    except (ValueError, TypeError):
        raise CaError(f"cannot decrypt or parse {path.name}: wrong CERTGATE_CA_PASSPHRASE?") from None
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise CaError(f"{path.name} holds an unsupported key type")
    return key


def write_certificate(path: Path, cert: x509.Certificate) -> None:
    """Store a certificate as PEM (world-readable: it is public)."""
    write_file_atomically(path, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def load_certificate(path: Path) -> x509.Certificate:
    """Read a PEM certificate.

    Raises:
        CaError: missing or not a certificate.
    """
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise CaError(f"cannot read certificate {path.name}: {exc}") from None
