"""The `certgate` CLI through click's runner: init, tokens, ranges, audit and inventory exports, CRL."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509

from service.cli import main


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"CERTGATE_DATA_DIR": str(tmp_path / "data"), "CERTGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'cg.db'}",
            "CERTGATE_CA_PASSPHRASE": "", "CERTGATE_BASE_URL": "http://pki.example.com"}


def run(env: dict[str, str], *args: str, code: int = 0) -> str:
    result = CliRunner(env=env).invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_init_creates_ca_and_is_idempotent(env: dict[str, str]) -> None:
    out = run(env, "init")
    assert "CA: created" in out
    data = Path(env["CERTGATE_DATA_DIR"])
    for key in ("ca/root.key.pem", "ca/issuing.key.pem", "audit/log-key.pem", "ocsp/responder.key.pem"):
        assert stat.S_IMODE((data / key).stat().st_mode) == 0o600
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    before = snapshot(data / "ca")
    assert "left untouched" in run(env, "init")
    assert snapshot(data / "ca") == before
    root = x509.load_pem_x509_certificate((data / "ca/root.pem").read_bytes())
    issuing = x509.load_pem_x509_certificate((data / "ca/issuing.pem").read_bytes())
    assert issuing.issuer == root.subject and root.public_key().key_size == 384 and issuing.public_key().key_size == 256


@pytest.mark.parametrize(("kind", "bits"), [("p384", 384), ("rsa3072", 3072)])
def test_init_key_types(env: dict[str, str], kind: str, bits: int) -> None:
    run(env, "init", "--ca-key-type", kind)
    issuing = x509.load_pem_x509_certificate((Path(env["CERTGATE_DATA_DIR"]) / "ca/issuing.pem").read_bytes())
    assert issuing.public_key().key_size == bits


def test_passphrase_encrypts_keys(env: dict[str, str]) -> None:
    secret_env = {**env, "CERTGATE_CA_PASSPHRASE": "correct horse"}
    run(secret_env, "init")
    key = (Path(env["CERTGATE_DATA_DIR"]) / "ca/issuing.key.pem").read_text()
    assert "ENCRYPTED PRIVATE KEY" in key
    result = CliRunner(env={**env, "CERTGATE_CA_PASSPHRASE": "wrong"}).invoke(main, ["crl", "--out", "/dev/null"])
    assert result.exit_code == 1 and "passphrase" in result.output.lower()  # a message, not a traceback
    assert "correct horse" not in result.output


def test_token_create_prints_secret_last_and_stores_hash(env: dict[str, str]) -> None:
    run(env, "init")
    secret = run(env, "token", "create", "--role", "admin", "--name", "ops").strip().splitlines()[-1]
    assert secret.startswith("cg_")
    db = Path(env["CERTGATE_DATABASE_URL"].removeprefix("sqlite:///")).read_bytes()
    assert secret.encode() not in db
    run(env, "token", "create", "--role", "admin", "--name", "ops", code=1)
    run(env, "token", "revoke", "ops")
    run(env, "token", "revoke", "ops", code=1)


def test_ranges_import_all_or_nothing(env: dict[str, str], tmp_path: Path) -> None:
    run(env, "init")
    good = tmp_path / "good.txt"
    good.write_text("# owned\n5.6.7.0/24,netops\n2a00:1450::/32\n\n10.0.0.0/8 # lab\n")
    bad = tmp_path / "bad.txt"
    bad.write_text("5.6.8.0/24\n5.6.9.1/24\nnot-a-cidr,x\n")
    result = CliRunner(env=env).invoke(main, ["ranges", "import", str(bad)])
    assert result.exit_code == 1
    assert "line 2" in result.output and "line 3" in result.output
    assert run(env, "ranges", "list").strip() == ""
    assert "imported 3 ranges" in run(env, "ranges", "import", str(good))
    assert "imported 0 ranges (3 already registered)" in run(env, "ranges", "import", str(good))
    listed = run(env, "ranges", "list")
    assert "5.6.7.0/24\tnetops" in listed and "2a00:1450::/32" in listed
    run(env, "ranges", "add", "5.6.10.0/24", "--owner", "x")
    run(env, "ranges", "add", "5.6.10.0/24", code=1)
    run(env, "ranges", "remove", "5.6.10.0/24")
    assert "5.6.10.0/24" not in run(env, "ranges", "list")


def test_audit_verify_and_exports(env: dict[str, str], tmp_path: Path) -> None:
    run(env, "init")
    run(env, "ranges", "add", "5.6.7.0/24")
    assert "intact" in run(env, "audit", "verify")
    lines = [json.loads(x) for x in run(env, "audit", "export").splitlines()]
    assert [e["event"] for e in lines] == ["range:added"] and lines[0]["index"] == 0
    assert run(env, "certs", "export", "--format", "csv").splitlines()[0].startswith("serial_number,status")
    crl_path = tmp_path / "crl.der"
    run(env, "crl", "--out", str(crl_path))
    crl = x509.load_der_x509_crl(crl_path.read_bytes())
    assert len(list(crl)) == 0
    run(env, "crl", "--root", "--out", str(crl_path))
    assert x509.load_der_x509_crl(crl_path.read_bytes()).issuer.rfc4514_string().startswith("CN=certgate Root CA")
    assert os.path.getsize(crl_path) > 0


def test_domains_import_add_remove_list(env: dict[str, str], tmp_path: Path) -> None:
    run(env, "init")
    good = tmp_path / "domains.txt"
    good.write_text("# owned\nexample.com,web-team\nBücher.example.org\n\nshop.io # lab\n")
    bad = tmp_path / "bad.txt"
    bad.write_text("example.net\nco.uk,x\nprinter.corp\n*.example.org\n")
    result = CliRunner(env=env).invoke(main, ["domains", "import", str(bad)])
    assert result.exit_code == 1
    assert "line 2" in result.output and "public suffix" in result.output and "line 3" in result.output and "line 4" in result.output
    assert run(env, "domains", "list").strip() == ""
    assert "imported 3 domains" in run(env, "domains", "import", str(good))
    assert "imported 0 domains (3 already registered)" in run(env, "domains", "import", str(good))
    listed = run(env, "domains", "list")
    assert "example.com\tweb-team" in listed and "xn--bcher-kva.example.org" in listed
    assert run(env, "domains", "list", "--owner", "web-team").count("\n") == 1
    assert "added api.partner.com" in run(env, "domains", "add", "API.partner.com", "--owner", "partner")
    run(env, "domains", "add", "api.partner.com", code=1)
    assert "public suffix" in run(env, "domains", "add", "github.io", code=1)
    run(env, "domains", "remove", "api.partner.com")
    run(env, "domains", "remove", "api.partner.com", code=1)
    assert "partner" not in run(env, "domains", "list")
    events = [json.loads(x)["event"] for x in run(env, "audit", "export").splitlines()]
    assert events == ["domain:imported", "domain:imported", "domain:added", "domain:removed"]
