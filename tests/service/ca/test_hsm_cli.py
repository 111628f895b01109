"""`certgate init --hsm` and the CLI against a real SoftHSM2 token: the ceremony, and clean refusals."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pkcs11
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pkcs11 import Attribute
from sqlalchemy import create_engine, text

from service.ca.hsm import TokenConfig, open_token
from tests.conftest import BASE_URL
from tests.softhsm import MODULE, SoftHsm, unique_prefix


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "service.cli", *args], env=env, text=True, capture_output=True,
                          timeout=120)


def _env(tmp_path: Path, database_url: str, softhsm: SoftHsm, config: TokenConfig) -> dict[str, str]:
    return {**os.environ, "CERTGATE_DATA_DIR": str(tmp_path / "data"), "CERTGATE_DATABASE_URL": database_url,
            "CERTGATE_BASE_URL": BASE_URL, **softhsm.env(config)}


def _events(database_url: str, event: str) -> list[tuple[str, dict[str, object]]]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT actor, data FROM audit_events WHERE event = :e"), {"e": event}).all()
    finally:
        engine.dispose()
    import json

    return [(actor, data if isinstance(data, dict) else json.loads(data)) for actor, data in rows]


def _labels_in_token(prefix: str) -> list[str]:
    token = pkcs11.lib(MODULE).get_token(token_label="certgate-tests")
    with token.open() as session:
        return sorted(str(o[Attribute.LABEL]) for o in session.get_objects() if str(o[Attribute.LABEL]).startswith(prefix))


def test_init_hsm_makes_the_keys_in_the_token_and_audits_the_ceremony(tmp_path: Path, database_url: str,
                                                                      softhsm: SoftHsm) -> None:
    prefix = unique_prefix()
    config = softhsm.config(prefix, ocsp=True)
    env = _env(tmp_path, database_url, softhsm, config)
    done = _cli(env, "init", "--hsm")
    assert done.returncode == 0, done.stderr
    assert "key ceremony: recorded" in done.stdout and config.pin not in done.stdout + done.stderr
    data = tmp_path / "data"
    assert not list((data / "ca").glob("*.key.pem")) and not (data / "ocsp" / "responder.key.pem").exists()
    [(actor, ceremony)] = _events(database_url, "ca:key_ceremony")
    assert actor.startswith("cli") and ceremony["performed_by"] == actor and ceremony["token"] == "certgate-tests"
    token = open_token(config)
    keys = {k["role"]: k for k in ceremony["keys"]}  # type: ignore[attr-defined]
    for role, label in (("root", config.root_label), ("issuing", config.issuing_label), ("ocsp", config.ocsp_label)):
        assert label is not None
        spki = token.public_key(label).public_bytes(serialization.Encoding.DER,
                                                    serialization.PublicFormat.SubjectPublicKeyInfo)
        assert keys[role]["spki_sha256"] == hashlib.sha256(spki).hexdigest()
        assert keys[role]["location"] == f"pkcs11:certgate-tests/{label}"
    made = {c["sha256"] for c in ceremony["certificates"]}  # type: ignore[attr-defined]
    for path in (data / "ca" / "root.pem", data / "ca" / "issuing.pem", data / "ocsp" / "responder.pem"):
        der = x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(serialization.Encoding.DER)
        assert hashlib.sha256(der).hexdigest() in made
    assert _cli(env, "audit", "verify").returncode == 0
    again = _cli(env, "init", "--hsm")  # idempotent: nothing new in the token, no second ceremony
    assert again.returncode == 0 and "exists, left untouched" in again.stdout
    assert len(_events(database_url, "ca:key_ceremony")) == 1
    assert _labels_in_token(prefix) == sorted([f"{prefix}-{r}" for r in ("issuing", "ocsp", "root")] * 2)


@pytest.mark.parametrize(("change", "expected"), [
    ({"CERTGATE_PKCS11_PIN": "999999"}, "the token refused the PIN"),
    ({"CERTGATE_PKCS11_MODULE": "/nonexistent/libpkcs11.so"}, "cannot load the PKCS#11 module"),
    ({"CERTGATE_PKCS11_TOKEN": "no-such-token"}, "no token labelled 'no-such-token'"),
    ({"CERTGATE_PKCS11_MODULE": ""}, "init --hsm needs a token"),
])
def test_init_hsm_refuses_cleanly_and_stores_nothing(tmp_path: Path, softhsm: SoftHsm,
                                                     change: dict[str, str], expected: str) -> None:
    prefix = unique_prefix()
    env = {**_env(tmp_path, f"sqlite:///{tmp_path / 'certgate.db'}", softhsm, softhsm.config(prefix)), **change}
    done = _cli(env, "init", "--hsm")
    assert done.returncode == 1, done.stdout + done.stderr
    assert expected in done.stderr and "Traceback" not in done.stderr
    assert "999999" not in done.stdout + done.stderr
    assert not (tmp_path / "data" / "ca").exists() or not list((tmp_path / "data" / "ca").iterdir())
    assert not (tmp_path / "certgate.db").exists()
    assert _labels_in_token(prefix) == []


def test_a_label_taken_in_the_token_is_never_overwritten(tmp_path: Path, softhsm: SoftHsm) -> None:
    prefix = unique_prefix()
    config = softhsm.config(prefix)
    first = _env(tmp_path / "a", f"sqlite:///{tmp_path / 'a.db'}", softhsm, config)
    assert _cli(first, "init", "--hsm").returncode == 0
    second = _env(tmp_path / "b", f"sqlite:///{tmp_path / 'b.db'}", softhsm, config)
    done = _cli(second, "init", "--hsm")
    assert done.returncode == 1 and f"already holds a key labelled '{prefix}-root'" in done.stderr
    assert not (tmp_path / "b" / "data" / "ca" / "root.pem").exists()


def test_commands_on_a_token_ca_exit_non_zero_when_the_token_is_locked(tmp_path: Path,
                                                                       softhsm: SoftHsm) -> None:
    config = softhsm.config(unique_prefix())
    env = _env(tmp_path, f"sqlite:///{tmp_path / 'certgate.db'}", softhsm, config)
    assert _cli(env, "init", "--hsm").returncode == 0
    out = tmp_path / "crl.der"
    assert _cli(env, "crl", "--out", str(out)).returncode == 0
    x509.load_der_x509_crl(out.read_bytes())
    for change, expected in (({"CERTGATE_PKCS11_PIN": "999999"}, "the token refused the PIN"),
                             ({"CERTGATE_PKCS11_MODULE": ""}, "no PKCS#11 token configured")):
        done = _cli({**env, **change}, "crl", "--out", str(tmp_path / "other.der"))
        assert done.returncode == 1 and expected in done.stderr and "Traceback" not in done.stderr
