"""A throwaway root and issuing CA, leaves, and an openssl runner for the revocation tests."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from service.ca.crl import SigningKey, authority_key_identifier, signature_hash

KEY_TYPES = ("p256", "p384", "rsa2048")


def new_key(key_type: str) -> SigningKey:
    """A fresh private key of `key_type`."""
    if key_type == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "p384":
        return ec.generate_private_key(ec.SECP384R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "certgate tests"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def _ca_cert(
    subject: str, key: SigningKey, issuer: x509.Certificate | None, issuer_key: SigningKey,
    now: datetime, path_length: int | None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer.subject if issuer else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(authority_key_identifier(issuer), critical=False)
    return builder.sign(issuer_key, signature_hash(issuer_key))


@dataclass
class Pki:
    """A root, an issuing CA under it, and the leaves issued so far."""

    root_cert: x509.Certificate
    root_key: SigningKey
    issuing_cert: x509.Certificate
    issuing_key: SigningKey

    def issue_leaf(self, serial: int, base_url: str, now: datetime) -> x509.Certificate:
        """A TLS server leaf pointing at `base_url` for its CRL and OCSP."""
        key = ec.generate_private_key(ec.SECP256R1())
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"leaf{serial}")]))
            .issuer_name(self.issuing_cert.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName(f"leaf{serial}.example.com")]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(authority_key_identifier(self.issuing_cert), critical=False)
            .add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                full_name=[x509.UniformResourceIdentifier(f"{base_url}/crl")],
                relative_name=None, reasons=None, crl_issuer=None)]), critical=False)
            .add_extension(x509.AuthorityInformationAccess([
                x509.AccessDescription(AuthorityInformationAccessOID.OCSP,
                                       x509.UniformResourceIdentifier(f"{base_url}/ocsp")),
                x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS,
                                       x509.UniformResourceIdentifier(f"{base_url}/ca.pem")),
            ]), critical=False)
            .sign(self.issuing_key, signature_hash(self.issuing_key))
        )

    def write(self, directory: Path) -> None:
        """root.pem, issuing.pem and chain.pem (issuing then root) into `directory`."""
        (directory / "root.pem").write_bytes(pem(self.root_cert))
        (directory / "issuing.pem").write_bytes(pem(self.issuing_cert))
        (directory / "chain.pem").write_bytes(pem(self.issuing_cert) + pem(self.root_cert))


def make_pki(issuing_key_type: str, now: datetime, name: str = "certgate test") -> Pki:
    """A P-256 root and an issuing CA of `issuing_key_type` under it."""
    root_key = new_key("p256")
    root = _ca_cert(f"{name} root", root_key, None, root_key, now, None)
    issuing_key = new_key(issuing_key_type)
    issuing = _ca_cert(f"{name} issuing", issuing_key, root, root_key, now, 0)
    return Pki(root, root_key, issuing, issuing_key)


def pem(cert: x509.Certificate) -> bytes:
    """The PEM of `cert`."""
    return cert.public_bytes(serialization.Encoding.PEM)


def openssl(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `openssl` and return its result whatever the exit code."""
    return subprocess.run(
        ["openssl", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=60,
        check=False,
    )


def pkilint(tool: str, *args: str | Path, cwd: Path) -> str:
    """Findings of WARNING or worse from one of pkilint's command-line linters ('' when clean)."""
    import sys

    result = subprocess.run(
        [str(Path(sys.executable).parent / tool), "lint", "-s", "WARNING", *map(str, args)],
        cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )
    return (result.stdout + result.stderr).strip()
