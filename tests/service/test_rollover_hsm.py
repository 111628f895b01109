"""Issuing CA rollover with the CA keys in a real PKCS#11 token (SoftHSM2): the new key is made there."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pkcs11
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pkcs11 import Attribute, ObjectClass
from pkcs11 import exceptions as p11
from sqlmodel import select

from service.ca.profile import IssueOrder
from service.ca.token_key import TokenKey
from service.db.models import AuditEvent
from service.errors import Conflict
from service.usecases.rollover import roll_over
from tests.api.helpers import submit
from tests.conftest import BASE_URL, bearer
from tests.factories import csr_pem, key
from tests.service.ca.test_hsm import _client, _runtime
from tests.softhsm import MODULE, TOKEN_LABEL, SoftHsm, make_hsm_home, unique_prefix


def _pem(path: Path, cert: x509.Certificate) -> str:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(path)


def test_a_rollover_makes_the_new_issuing_key_in_the_token(tmp_path: Path, database_url: str,
                                                           softhsm: SoftHsm) -> None:
    config = softhsm.config(unique_prefix())
    home = tmp_path / "home"
    make_hsm_home(home, config, BASE_URL)
    rt = _runtime(home, tmp_path, database_url, softhsm, config)
    try:
        client, tokens = _client(rt)
        ca_dir = rt.settings.data_dir / "ca"
        result = roll_over(rt.db, ca_dir, None, BASE_URL, actor="cli:test", clock=lambda: datetime.now(UTC),
                           token=config)
        assert result.generation == 2
        assert (ca_dir / "issuing-2.pem").exists() and not (ca_dir / "issuing-2.key.pem").exists()
        label = f"{config.issuing_label}-2"
        with rt.db.read() as session:
            event = session.exec(select(AuditEvent).where(AuditEvent.event == "ca:rolled_over")).one()
        assert event.data["key_location"] == f"pkcs11:{TOKEN_LABEL}/{label}"

        new = rt.roster.get(2)  # the roster finds generation 2's key in the token
        assert isinstance(new.issuing_key, TokenKey) and new.issuing_key.label == label
        assert new.issuing_cert == result.certificate
        now = datetime.now(UTC)
        leaf = new.issue(IssueOrder(key("p256", 1).public_key(), common_name="www.example.com",
                                    dns_names=("www.example.com",), ip_addresses=(), not_before=now,
                                    not_after=now + timedelta(days=30), serial=4242), linter=None).certificate
        verified = subprocess.run(["openssl", "verify", "-CAfile", _pem(tmp_path / "root.pem", new.root_cert),
                                   "-untrusted", _pem(tmp_path / "issuing-2.pem", new.issuing_cert),
                                   _pem(tmp_path / "leaf.pem", leaf)], capture_output=True, text=True)
        assert verified.returncode == 0, verified.stdout + verified.stderr

        token = pkcs11.lib(MODULE).get_token(token_label=config.token_label)
        with token.open(rw=True) as session:
            private = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=label)
            assert private[Attribute.EXTRACTABLE] is False and private[Attribute.NEVER_EXTRACTABLE] is True
            assert private[Attribute.SENSITIVE] is True and private[Attribute.TOKEN] is True
            assert private[Attribute.SIGN] is True and private[Attribute.DECRYPT] is False
            with pytest.raises(p11.AttributeSensitive):
                private[Attribute.VALUE]

        # Generation 1 still signs (its switch lies ahead) and keeps signing its own CRL.
        old = rt.roster.get(1)
        answer = submit(client, tokens["alice"], csr_pem(cn="5.6.7.8", ips=["5.6.7.8"]))
        assert answer.status_code == 201 and answer.get_json()["certificate"]["issuing_ca"] == 1, answer.get_json()
        serial = answer.get_json()["certificate"]["serial_number"]
        revoked = client.post(f"/api/v1/certificates/{serial}/revoke", json={"reason": "superseded"},
                              headers=bearer(tokens["frank"]))
        assert revoked.status_code == 200, revoked.get_json()
        crl = x509.load_der_x509_crl(client.get("/crl").data)
        assert crl.is_signature_valid(old.issuing_cert.public_key())  # type: ignore[arg-type]
        assert crl.get_revoked_certificate_by_serial_number(int(serial, 16)) is not None
        crl_2 = x509.load_der_x509_crl(client.get("/crl/2").data)
        assert crl_2.is_signature_valid(new.issuing_cert.public_key())  # type: ignore[arg-type]
    finally:
        rt.db.dispose()


def test_a_failed_token_rollover_leaves_no_key_and_no_file(tmp_path: Path, database_url: str, softhsm: SoftHsm,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    config = softhsm.config(unique_prefix())
    home = tmp_path / "home"
    make_hsm_home(home, config, BASE_URL)
    rt = _runtime(home, tmp_path, database_url, softhsm, config)
    try:
        def refused(*args: object) -> None:
            raise Conflict("issuing CA 2 exists already")

        monkeypatch.setattr("service.usecases.rollover._record", refused)
        ca_dir = rt.settings.data_dir / "ca"
        with pytest.raises(Conflict):
            roll_over(rt.db, ca_dir, None, BASE_URL, actor="cli:test", clock=lambda: datetime.now(UTC), token=config)
        assert not (ca_dir / "issuing-2.pem").exists()
        token = pkcs11.lib(MODULE).get_token(token_label=config.token_label)
        with token.open() as session:
            assert not list(session.get_objects({Attribute.LABEL: f"{config.issuing_label}-2"}))
        monkeypatch.undo()
        assert roll_over(rt.db, ca_dir, None, BASE_URL, actor="cli:test", clock=lambda: datetime.now(UTC),
                         token=config).generation == 2  # the retry is not blocked by a leftover
    finally:
        rt.db.dispose()
