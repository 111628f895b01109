"""`certgate submit --batch` against the real server: a folder and a file of CSRs, certificates written beside them."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from cryptography import x509

from tests.e2e.conftest import LiveServer
from tests.e2e.pki_clients import CaFiles, KeyShop, openssl, verify

pytestmark = pytest.mark.e2e


def _certgate_submit(live_server: LiveServer, *args: str) -> tuple[int, str, str]:
    done = live_server.cli("submit", "--url", live_server.url, "--token", live_server.tokens["requester"], *args,
                           check=False)
    return done.returncode, done.stdout, done.stderr


def test_batch_folder_writes_each_chain_next_to_its_csr(live_server: LiveServer, ca_files: CaFiles, key_shop: KeyShop,
                                                        tmp_path: Path) -> None:
    estate = tmp_path / "estate"
    estate.mkdir()
    for n, kind in enumerate(("p256", "rsa3072", "p384", "rsa2048", "p256")):
        shutil.copy(key_shop.csr(kind, subj=f"/CN=host{n}.example.com", san=f"DNS:host{n}.example.com"),
                    estate / f"host{n}.csr")
    shutil.copy(key_shop.csr("p256", subj="/CN=lab.example.com", san="DNS:lab.example.com,IP:10.0.0.77"),
                estate / "lab.csr")  # waits for an approver
    (estate / "junk.csr").write_text("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n")
    (estate / "notes.txt").write_text("not a CSR, not sent")
    code, out, err = _certgate_submit(live_server, "--batch", str(estate), "--batch-size", "3")
    assert code == 1, out + err  # one refused
    assert "issued 5, pending exception 1, refused 1" in out, out
    assert re.search(r"lab\.csr: pending exception \S+ \(ip_not_public\)", out), out
    assert re.search(r"junk\.csr: malformed_csr: ", err), err
    assert "issuing" in err  # the progress bar
    for n in range(5):
        chain = estate / f"host{n}.crt"
        certs = x509.load_pem_x509_certificates(chain.read_bytes())
        assert len(certs) == 3 and certs[0].subject.rfc4514_string() == f"CN=host{n}.example.com"
        leaf = tmp_path / f"leaf{n}.pem"
        leaf.write_text(chain.read_text().split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n")
        assert verify(ca_files, leaf).returncode == 0
        assert openssl("verify", "-CAfile", ca_files.root, "-untrusted", chain, leaf).returncode == 0
    assert not (estate / "lab.crt").exists() and not (estate / "junk.crt").exists()
    assert sorted(p.name for p in estate.iterdir() if p.suffix not in (".csr", ".crt")) == ["notes.txt"]


def test_batch_file_of_concatenated_csrs(live_server: LiveServer, ca_files: CaFiles, key_shop: KeyShop,
                                         tmp_path: Path) -> None:
    bundle = tmp_path / "renew.pem"
    bundle.write_bytes(b"".join(key_shop.csr("p256", subj=f"/CN=r{n}.example.com").read_bytes() for n in range(3)))
    code, out, err = _certgate_submit(live_server, "--batch", str(bundle), "--validity-days", "30")
    assert code == 0, out + err
    assert "issued 3, pending exception 0, refused 0" in out, out
    for n in range(3):
        leaf = x509.load_pem_x509_certificates((tmp_path / f"renew-{n + 1:04d}.crt").read_bytes())[0]
        assert leaf.subject.rfc4514_string() == f"CN=r{n}.example.com"
        assert (leaf.not_valid_after_utc - leaf.not_valid_before_utc).days == 29  # 30 days, to the second
    status, audit = live_server.call("GET", "/api/v1/audit/verify", token=live_server.tokens["auditor"])
    assert status == 200 and audit["ok"] is True  # type: ignore[index]


def test_batch_needs_either_a_file_or_batch(live_server: LiveServer, tmp_path: Path) -> None:
    code, _, err = _certgate_submit(live_server)
    assert code == 2 and "either CSR_FILE or --batch" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = _certgate_submit(live_server, "--batch", str(empty))
    assert code == 1 and "no CSR in" in err


def test_batch_rerun_with_its_key_replays_and_issues_nothing_new(live_server: LiveServer, key_shop: KeyShop,
                                                                 tmp_path: Path) -> None:
    bundle = tmp_path / "rerun.pem"
    bundle.write_bytes(b"".join(key_shop.csr("p256", subj=f"/CN=k{n}.example.com").read_bytes() for n in range(3)))
    args = ("--batch", str(bundle), "--batch-size", "2", "--idempotency-key", f"rerun-{tmp_path.name}")
    code, out, err = _certgate_submit(live_server, *args)
    assert code == 0 and "issued 3," in out, out + err
    first = [(tmp_path / f"rerun-{n:04d}.crt").read_bytes() for n in (1, 2, 3)]
    code, out, err = _certgate_submit(live_server, *args)
    assert code == 0 and "issued 3," in out, out + err
    assert [(tmp_path / f"rerun-{n:04d}.crt").read_bytes() for n in (1, 2, 3)] == first  # the same serials
    code, out, err = _certgate_submit(live_server, *args, "--validity-days", "30")  # another body, same key
    assert code == 1 and "idempotency_key_reused" in err, out + err
