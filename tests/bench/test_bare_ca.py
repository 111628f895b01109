"""bench/bare_issuer.py on a given CA: with certgate's own P-256 and RSA-3072 issuing CA files it signs
leaves that verify up to certgate's root, with certgate's digest and the CA's key identifier."""

from __future__ import annotations

import ipaddress
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import PolicyBuilder, Store

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.append(str(BENCH))  # after the project: bench module names must not shadow others

import cfssl_peer  # noqa: E402
from bare_issuer import BareCa, CaLoadError, create_bare_app, issue_leaf  # noqa: E402
from service.ca.authority import CaPaths, init_ca  # noqa: E402
from service.ca.keystore import CaKeyType, load_private_key, signature_hash  # noqa: E402

NAME, IP = "h1.bench.example.com", "5.6.7.1"


def _csr() -> bytes:
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME), x509.IPAddress(ipaddress.ip_address(IP))]),
                       critical=False)
        .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )


def _certgate_ca(tmp_path: Path, kind: CaKeyType) -> CaPaths:
    """The CA files `certgate init --ca-key-type kind` writes (no passphrase: plain PKCS#8)."""
    assert init_ca(tmp_path / "ca", kind, None, datetime.now(UTC), "http://127.0.0.1:8443")
    return CaPaths(tmp_path / "ca")


@pytest.mark.parametrize("kind", [CaKeyType.P256, CaKeyType.RSA3072])
def test_leaf_from_a_certgate_issuing_ca_verifies(tmp_path: Path, kind: CaKeyType) -> None:
    paths = _certgate_ca(tmp_path, kind)
    ca = BareCa.from_files(paths.issuing_cert, paths.issuing_key)
    csr = _csr()
    now = datetime.now(UTC)
    leaf = issue_leaf(csr, ca, now).certificate

    issuing = x509.load_pem_x509_certificate(paths.issuing_cert.read_bytes())
    root = x509.load_pem_x509_certificate(paths.root_cert.read_bytes())
    leaf.verify_directly_issued_by(issuing)
    cfssl_peer.check_leaf(leaf, csr, issuing)  # the check peer_cfssl.py runs on each server's leaf
    # The whole chain, as a TLS client would build it (RFC 5280 + CA/B profile checks of cryptography).
    verifier = PolicyBuilder().store(Store([root])).time(now).build_server_verifier(x509.DNSName(NAME))
    assert verifier.verify(leaf, [issuing])[-1] == root

    key = load_private_key(paths.issuing_key, None)
    assert isinstance(leaf.signature_hash_algorithm, type(signature_hash(key)))  # certgate's digest
    ski = issuing.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert leaf.issuer == issuing.subject


def test_app_signs_with_the_given_ca(tmp_path: Path) -> None:
    paths = _certgate_ca(tmp_path, CaKeyType.P256)
    app = create_bare_app(BareCa.from_files(paths.issuing_cert, paths.issuing_key)).test_client()
    answer = app.post("/issue", data=_csr())
    assert answer.status_code == 201
    issuing = x509.load_pem_x509_certificate(paths.issuing_cert.read_bytes())
    x509.load_pem_x509_certificate(answer.data).verify_directly_issued_by(issuing)


def test_load_refuses_a_key_of_another_ca_and_an_encrypted_key(tmp_path: Path) -> None:
    paths = _certgate_ca(tmp_path, CaKeyType.P256)
    with pytest.raises(CaLoadError, match="does not belong"):
        BareCa.from_files(paths.issuing_cert, paths.root_key)
    key = serialization.load_pem_private_key(paths.issuing_key.read_bytes(), None)
    encrypted = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.BestAvailableEncryption(b"secret"))
    with pytest.raises(CaLoadError, match="cannot load"):
        BareCa.load(paths.issuing_cert.read_bytes(), encrypted)
    with pytest.raises(CaLoadError, match="cannot read"):
        BareCa.from_files(paths.issuing_cert, tmp_path / "missing.pem")
