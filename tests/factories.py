"""Test data makers: keys (cached per type) and CSRs, via `cryptography` or the `openssl` CLI."""

from __future__ import annotations

import functools
import ipaddress
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

KEY_TYPES = ("rsa2048", "rsa3072", "rsa4096", "p256", "p384", "p521")


@functools.cache
def key(kind: str = "p256", index: int = 0) -> Any:
    """A private key of `kind`, cached per (kind, index) so tests stay fast."""
    if kind.startswith("rsa"):
        return rsa.generate_private_key(65537, int(kind[3:]))
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    curves = {"p256": ec.SECP256R1(), "p384": ec.SECP384R1(), "p521": ec.SECP521R1(), "k256": ec.SECP256K1()}
    return ec.generate_private_key(curves[kind])


def csr_pem(
    *,
    cn: str | None = "www.example.com",
    dns: Sequence[str] = (),
    ips: Sequence[str] = (),
    private_key: Any = None,
    extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
) -> bytes:
    """A signed PEM CSR with the given names (SAN omitted when there are none)."""
    private_key = private_key or key("p256")
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else [])
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    for ext, critical in extensions:
        builder = builder.add_extension(ext, critical=critical)
    algorithm = None if isinstance(private_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(private_key, algorithm).public_bytes(serialization.Encoding.PEM)


def openssl_key_and_csr(workdir: Path, kind: str, *, subj: str = "/CN=www.example.com", san: str | None = None) -> tuple[Path, Path]:
    """A key and CSR made by `openssl req`, as an operator would make them."""
    key_path, csr_path = workdir / f"{kind}.key", workdir / f"{kind}.csr"
    if kind.startswith("rsa"):
        newkey = ["-newkey", f"rsa:{kind[3:]}"]
    else:
        curve = {"p256": "P-256", "p384": "P-384", "p521": "P-521"}[kind]
        newkey = ["-newkey", "ec", "-pkeyopt", f"ec_paramgen_curve:{curve}"]
    cmd = ["openssl", "req", "-new", "-nodes", *newkey, "-keyout", str(key_path), "-out", str(csr_path), "-subj", subj]
    if san:
        cmd += ["-addext", f"subjectAltName={san}"]
    subprocess.run(cmd, check=True, capture_output=True)
    return key_path, csr_path
