"""The exception workflow and the `certgate` CLI (submit, audit verify) against the real server."""

from __future__ import annotations

import ipaddress
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from tests.e2e.conftest import LiveServer
from tests.e2e.pki_clients import CaFiles, KeyShop, issued_from, openssl, submit, verify

pytestmark = pytest.mark.e2e


def test_exception_is_approved_by_another_person(live_server: LiveServer, ca_files: CaFiles, key_shop: KeyShop, tmp_path: Path) -> None:
    tokens = live_server.tokens
    csr = key_shop.csr("p256", subj="/CN=lab.example.com", san="DNS:lab.example.com,IP:10.0.0.5")
    status, pending = submit(live_server, csr, token=tokens["requester"], justification="lab host")
    assert status == 202 and pending["status"] == "pending_exception", pending
    assert {v["code"] for v in pending["violations"]} == {"ip_not_public"}
    exception_id = pending["exception"]["id"]
    status, queue = live_server.call("GET", "/api/v1/exceptions?status=pending&per_page=500", token=tokens["approver"])
    assert status == 200 and exception_id in [e["id"] for e in queue["items"]]  # type: ignore[index]

    decide = f"/api/v1/exceptions/{exception_id}/approve"
    for who in ("requester", "auditor"):
        status, refused = live_server.call("POST", decide, token=tokens[who], body={"reason": "mine, trust me"})
        assert status == 403 and refused["error"]["code"] == "forbidden", (who, refused)  # type: ignore[index]

    status, approved = live_server.call("POST", decide, token=tokens["approver"], body={"reason": "known lab host"})
    assert status == 200 and approved["exception"]["status"] == "approved", approved  # type: ignore[index]
    issued = issued_from(approved, tmp_path / "lab.pem")  # type: ignore[arg-type]
    check = verify(ca_files, issued.path)
    assert check.returncode == 0 and check.stdout.strip().endswith(": OK"), check.stdout + check.stderr
    san = issued.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.5")]

    status, request = live_server.call("GET", f"/api/v1/requests/{pending['id']}", token=tokens["requester"])
    assert status == 200 and request["certificate"]["serial_number"] == issued.serial  # type: ignore[index]
    status, events = live_server.call("GET", "/api/v1/audit?event=certificate:issued&per_page=500", token=tokens["auditor"])
    assert status == 200
    mine = [e for e in events["items"] if e["data"]["serial_number"] == issued.serial]  # type: ignore[index]
    assert len(mine) == 1 and "cabf.internal_ip_address" in mine[0]["data"]["waived_lint"], mine

    audited = live_server.cli("audit", "verify", check=False)
    assert audited.returncode == 0, audited.stdout + audited.stderr
    status, verdict = live_server.call("GET", "/api/v1/audit/verify", token=tokens["auditor"])
    assert status == 200 and verdict["ok"] is True, verdict  # type: ignore[index]


def test_cli_submit_writes_the_chain(live_server: LiveServer, ca_files: CaFiles, key_shop: KeyShop) -> None:
    csr = key_shop.csr("rsa3072", subj="/CN=cli.example.com")
    done = live_server.cli("submit", str(csr), "--url", live_server.url, "--token", live_server.tokens["requester"], check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    chain = csr.with_suffix(".chain.pem")
    assert re.search(rf"^issued [0-9a-f]+ \(request \S+\); chain written to {re.escape(str(chain))}$", done.stdout, re.MULTILINE), done.stdout
    certs = x509.load_pem_x509_certificates(chain.read_bytes())
    assert [c.subject for c in certs[1:]] == [ca_files.issuing_cert().subject, ca_files.issuing_cert().issuer]
    leaf = chain.with_suffix(".leaf-only.pem")
    leaf.write_text(chain.read_text().split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n")
    assert verify(ca_files, leaf).returncode == 0
    # openssl reads the whole file as the untrusted pool: the chain as written is complete.
    assert openssl("verify", "-CAfile", ca_files.root, "-untrusted", chain, leaf).returncode == 0


def test_cli_submit_prints_the_pending_exception(live_server: LiveServer, key_shop: KeyShop, tmp_path: Path) -> None:
    csr = key_shop.csr("p384", subj="/CN=10.0.0.7")
    out = tmp_path / "never.pem"
    env_token = {**live_server.env, "CERTGATE_TOKEN": live_server.tokens["requester2"]}
    done = subprocess.run([sys.executable, "-m", "service.cli", "submit", str(csr), "--url", live_server.url, "--out", str(out)],
                          env=env_token, text=True, capture_output=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    match = re.search(r"^pending exception (\S+) for request (\S+):$", done.stdout, re.MULTILINE)
    assert match, done.stdout
    assert "ip_not_public" in done.stdout and "10.0.0.7" in done.stdout
    assert not out.exists()
    status, exc = live_server.call("GET", f"/api/v1/exceptions/{match.group(1)}", token=live_server.tokens["approver"])
    assert status == 200 and exc["requester"] == "bob" and exc["request_id"] == match.group(2), exc  # type: ignore[index]


def test_cli_submit_reports_a_refusal(live_server: LiveServer, tmp_path: Path) -> None:
    key, csr = tmp_path / "weak.key", tmp_path / "weak.csr"
    openssl("req", "-new", "-nodes", "-newkey", "rsa:1024", "-keyout", key, "-out", csr, "-subj", "/CN=weak.example.com")
    done = live_server.cli("submit", str(csr), "--url", live_server.url, "--token", live_server.tokens["requester"], check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "refused (422 key_too_small)" in done.stderr
    assert not csr.with_suffix(".chain.pem").exists()
