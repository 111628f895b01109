"""CA keys in a real PKCS#11 token (SoftHSM2): issuance, CRL and OCSP signed there; failures leave nothing."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pkcs11
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from flask.testing import FlaskClient
from pkcs11 import Attribute, ObjectClass
from pkcs11 import exceptions as p11

from service.ca.authority import CertificateAuthority
from service.ca.hsm import TokenConfig, open_token
from service.ca.keystore import CaKeyType
from service.ca.profile import IssueOrder
from service.ca.token_key import TokenKey
from service.errors import TokenUnavailable
from service.process.config import Settings
from service.process.runtime import Runtime
from service.tokens import create_token
from service.domain import Role
from tests.api.helpers import add_range, row_counts, submit
from tests.conftest import BASE_URL, bearer
from tests.factories import csr_pem, key
from tests.softhsm import MODULE, SoftHsm, make_hsm_home, unique_prefix

OWNED = "5.6.7.0/24"


@pytest.fixture(scope="session")
def hsm_config(softhsm: SoftHsm) -> TokenConfig:
    return softhsm.config("shared", ocsp=True)


@pytest.fixture(scope="session")
def hsm_home(tmp_path_factory: pytest.TempPathFactory, hsm_config: TokenConfig) -> Path:
    home = tmp_path_factory.mktemp("hsm-home")
    make_hsm_home(home, hsm_config, BASE_URL)
    return home


def _runtime(home: Path, tmp_path: Path, database_url: str, softhsm: SoftHsm, config: TokenConfig) -> Runtime:
    data = tmp_path / "data"
    shutil.copytree(home, data)
    env = {"CERTGATE_DATA_DIR": str(data), "CERTGATE_DATABASE_URL": database_url, "CERTGATE_BASE_URL": BASE_URL,
           **softhsm.env(config)}
    return Runtime.open(Settings.from_env(env))


@pytest.fixture
def hsm_runtime(hsm_home: Path, tmp_path: Path, database_url: str, softhsm: SoftHsm,
                hsm_config: TokenConfig) -> Iterator[Runtime]:
    rt = _runtime(hsm_home, tmp_path, database_url, softhsm, hsm_config)
    yield rt
    rt.db.dispose()


def _client(rt: Runtime) -> tuple[FlaskClient, dict[str, str]]:
    from service.process.app import create_app

    with rt.db.write() as session:
        tokens = {name: create_token(session, name=name, role=role, actor="test", now=datetime.now(UTC))
                  for name, role in (("alice", Role.REQUESTER), ("frank", Role.ADMIN))}
    client = create_app(rt.settings, runtime=rt).test_client()
    add_range(client, tokens["frank"], OWNED)
    return client, tokens


def test_certificates_crls_and_ocsp_answers_are_signed_by_the_token(hsm_runtime: Runtime) -> None:
    client, tokens = _client(hsm_runtime)
    token = open_token(hsm_runtime.settings.pkcs11)  # type: ignore[arg-type]
    before = token.timings.signatures
    answer = submit(client, tokens["alice"], csr_pem(cn="5.6.7.8", ips=["5.6.7.8"]))
    assert answer.status_code == 201, answer.get_json()
    assert token.timings.signatures == before + 1
    ca = hsm_runtime.ca
    assert isinstance(ca.issuing_key, TokenKey)
    leaf = x509.load_pem_x509_certificate(answer.get_json()["certificate"]["pem"].encode())
    leaf.verify_directly_issued_by(ca.issuing_cert)
    ca.issuing_cert.verify_directly_issued_by(ca.root_cert)
    serial = answer.get_json()["certificate"]["serial_number"]
    revoked = client.post(f"/api/v1/certificates/{serial}/revoke", json={"reason": "keyCompromise"},
                          headers=bearer(tokens["frank"]))
    assert revoked.status_code == 200, revoked.get_json()
    crl = x509.load_der_x509_crl(client.get("/crl").data)
    assert crl.is_signature_valid(ca.issuing_cert.public_key())  # type: ignore[arg-type]
    assert crl.get_revoked_certificate_by_serial_number(int(serial, 16)) is not None
    root_crl = x509.load_der_x509_crl(client.get("/crl/root").data)
    assert root_crl.is_signature_valid(ca.root_cert.public_key())  # type: ignore[arg-type]
    request = ocsp.OCSPRequestBuilder().add_certificate(leaf, ca.issuing_cert, hashes.SHA256()).build()
    response = ocsp.load_der_ocsp_response(client.post("/ocsp", data=request.public_bytes(serialization.Encoding.DER),
                                                       content_type="application/ocsp-request").data)
    assert response.certificate_status is ocsp.OCSPCertStatus.REVOKED
    responder_cert, responder_key = hsm_runtime.revocation.responder(datetime.now(UTC))
    assert isinstance(responder_key, TokenKey) and responder_key.label == "shared-ocsp"
    assert responder_cert.public_key() == token.public_key("shared-ocsp")
    assert response.certificates == [responder_cert]
    assert response.responder_key_hash == x509.SubjectKeyIdentifier.from_public_key(
        responder_cert.public_key()).digest  # type: ignore[arg-type]
    responder_cert.public_key().verify(response.signature, response.tbs_response_bytes,  # type: ignore[union-attr,call-arg]
                                       *_ecdsa(response))


def _ecdsa(response: ocsp.OCSPResponse) -> tuple[object, ...]:
    from cryptography.hazmat.primitives.asymmetric import ec

    assert response.signature_hash_algorithm is not None
    return (ec.ECDSA(response.signature_hash_algorithm),)


def test_a_deleted_key_answers_503_and_stores_nothing(tmp_path: Path, database_url: str,
                                                      softhsm: SoftHsm) -> None:
    config = softhsm.config(unique_prefix())
    home = tmp_path / "home"
    make_hsm_home(home, config, BASE_URL)
    rt = _runtime(home, tmp_path, database_url, softhsm, config)
    try:
        client, tokens = _client(rt)
        assert submit(client, tokens["alice"], csr_pem(cn="5.6.7.9", ips=["5.6.7.9"])).status_code == 201
        _destroy(config, config.issuing_label)
        counts = row_counts(rt)
        answer = submit(client, tokens["alice"], csr_pem(cn="5.6.7.10", ips=["5.6.7.10"]))
        assert answer.status_code == 503
        assert answer.headers["Retry-After"]
        assert answer.get_json()["error"]["code"] == "unavailable"
        assert row_counts(rt) == counts
        again = submit(client, tokens["alice"], csr_pem(cn="5.6.7.11", ips=["5.6.7.11"]))  # a fresh login finds no key
        assert again.status_code == 503 and "no private key labelled" in again.get_json()["error"]["message"]
        assert row_counts(rt) == counts
        assert client.get("/healthz").status_code == 503
        # The responder (a file key here) is due for rotation, which the issuing key must sign:
        # while its certificate is still valid it keeps answering; past its expiry, 503.
        responder = rt.revocation.responder(datetime.now(UTC))[0]
        assert rt.revocation.responder(responder.not_valid_after_utc - timedelta(days=1))[0] == responder
        with pytest.raises(TokenUnavailable):
            rt.revocation.responder(responder.not_valid_after_utc + timedelta(minutes=1))
    finally:
        rt.db.dispose()


def _destroy(config: TokenConfig, label: str) -> None:
    """Delete a key from the token through a session of its own (the process is logged in already)."""
    token = pkcs11.lib(MODULE).get_token(token_label=config.token_label)
    with token.open(rw=True) as session:
        session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=label).destroy()


def test_the_private_keys_cannot_be_exported(hsm_home: Path, hsm_config: TokenConfig) -> None:
    token = pkcs11.lib(MODULE).get_token(token_label=hsm_config.token_label)
    with token.open(rw=True) as session:
        for label in (hsm_config.root_label, hsm_config.issuing_label, hsm_config.ocsp_label):
            private = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=label)
            assert private[Attribute.EXTRACTABLE] is False and private[Attribute.NEVER_EXTRACTABLE] is True
            assert private[Attribute.SENSITIVE] is True and private[Attribute.ALWAYS_SENSITIVE] is True
            assert private[Attribute.TOKEN] is True and private[Attribute.PRIVATE] is True
            with pytest.raises(p11.AttributeSensitive):
                private[Attribute.VALUE]
            with pytest.raises(p11.PKCS11Error):  # extractable may only ever go from true to false
                private[Attribute.EXTRACTABLE] = True
            assert private[Attribute.EXTRACTABLE] is False


def test_an_rsa_ca_in_the_token_signs_leaves_that_verify(tmp_path: Path, softhsm: SoftHsm) -> None:
    config = softhsm.config(unique_prefix())
    ceremony = make_hsm_home(tmp_path, config, BASE_URL, CaKeyType.RSA3072)
    assert [k.key_type for k in ceremony.keys] == ["rsa4096", "rsa3072"]
    ca = CertificateAuthority.load(tmp_path / "ca", None, BASE_URL, token=config)
    now = datetime.now(UTC)
    issued = ca.issue(IssueOrder(key("p256", 1).public_key(), common_name="www.example.com",
                                 dns_names=("www.example.com",), ip_addresses=(), not_before=now, not_after=now + timedelta(days=30),
                                 serial=12345), linter=None)
    issued.certificate.verify_directly_issued_by(ca.issuing_cert)
    ca.issuing_cert.verify_directly_issued_by(ca.root_cert)


def test_a_missing_module_or_token_is_a_clear_token_error(hsm_home: Path, softhsm: SoftHsm,
                                                          hsm_config: TokenConfig) -> None:
    missing = TokenConfig(module="/nonexistent/libpkcs11.so", token_label=hsm_config.token_label, pin="1234")
    with pytest.raises(TokenUnavailable, match="cannot load the PKCS#11 module"):
        CertificateAuthority.load(hsm_home / "ca", None, BASE_URL, token=missing)
    absent = TokenConfig(module=MODULE, token_label="no-such-token", pin="1234")
    with pytest.raises(TokenUnavailable, match="no token labelled 'no-such-token'"):
        CertificateAuthority.load(hsm_home / "ca", None, BASE_URL, token=absent)


def test_a_forked_worker_logs_in_on_its_own_and_keeps_signing(hsm_home: Path, hsm_config: TokenConfig) -> None:
    """What gunicorn does: the master opened the token, then forks; the child must not use its sessions."""
    ca = CertificateAuthority.load(hsm_home / "ca", None, BASE_URL, token=hsm_config)
    token = open_token(hsm_config)
    assert ca.can_sign() and token.owner_pid == os.getpid()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        inherited = token.owner_pid
        ok = ca.can_sign()
        os.write(write, f"{inherited} {token.owner_pid} {os.getpid()} {ok}".encode())
        os._exit(0)
    os.close(write)
    _, status = os.waitpid(child, 0)
    inherited, owner, pid, ok = os.read(read, 200).decode().split()
    os.close(read)
    assert os.waitstatus_to_exitcode(status) == 0
    assert int(inherited) == os.getpid() and int(owner) == int(pid) == child and ok == "True"
    assert token.owner_pid == os.getpid() and ca.can_sign()  # the parent's pool is untouched
