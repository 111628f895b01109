"""Console workflows through the test client: preview, submit, decide, download, revoke, registry, tokens, audit."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import replace
from pathlib import Path

from cryptography import x509
from flask import Flask
from flask.testing import FlaskClient

from policies.config import DEFAULT_POLICY_PATH
from service.process.app import create_app
from service.process.runtime import Runtime
from tests.api.helpers import add_range, row_counts, submit
from tests.clock import FakeClock
from tests.factories import csr_pem
from tests.web.console import post_form, sign_in, text


def _console(app: Flask, token: str) -> FlaskClient:
    client = app.test_client()
    sign_in(client, token)
    return client


def test_preview_lists_every_violation_and_stores_nothing(app: Flask, runtime: Runtime, tokens: dict[str, str]) -> None:
    alice = _console(app, tokens["requester"])
    before = row_counts(runtime)
    csr = csr_pem(ips=["10.1.2.3", "9.9.9.9"]).decode()
    page = post_form(alice, "/console/submit", {"csr": csr, "justification": "lab box", "action": "preview"}, page="/console/submit")
    body = text(page)
    assert page.status_code == 200 and "nothing stored yet" in body and "wait for approvers" in body
    assert "10.1.2.3 is a Reserved IP Address: inside 10.0.0.0/8" in body and "9.9.9.9 is not inside a range" in body
    assert "lab box" in body and "BEGIN CERTIFICATE REQUEST" in body  # the form keeps its input
    assert row_counts(runtime) == before


def test_bad_input_keeps_the_form_and_stores_nothing(app: Flask, runtime: Runtime, tokens: dict[str, str]) -> None:
    alice = _console(app, tokens["requester"])
    before = row_counts(runtime)
    page = post_form(alice, "/console/submit", {"csr": "not a csr", "justification": "keep me", "validity_days": "30",
                                                "action": "submit"})
    assert page.status_code == 400 and "keep me" in text(page) and 'value="30"' in text(page)
    assert row_counts(runtime) == before


def test_upload_submit_issue_download(app: Flask, client: FlaskClient, tokens: dict[str, str]) -> None:
    add_range(client, tokens["admin"], "8.8.8.0/24")
    alice = _console(app, tokens["requester"])
    upload = (io.BytesIO(csr_pem(ips=["8.8.8.8"])), "host.csr")
    page = post_form(alice, "/console/submit", {"csr_file": upload, "action": "submit"}, content_type="multipart/form-data")
    assert page.status_code == 302
    detail = text(alice.get(page.headers["Location"]))
    serial = re.search(r"/console/certificates/([0-9a-f]+)", detail)
    assert serial and "issued" in detail
    pem = alice.get(f"/console/certificates/{serial.group(1)}/download/pem")
    chain = alice.get(f"/console/certificates/{serial.group(1)}/download/chain")
    der = alice.get(f"/console/certificates/{serial.group(1)}/download/der")
    leaf = x509.load_pem_x509_certificate(pem.data)
    assert x509.load_der_x509_certificate(der.data) == leaf
    assert len(x509.load_pem_x509_certificates(chain.data)) == 3 and "attachment" in der.headers["Content-Disposition"]
    assert format(leaf.serial_number, "x").zfill(len(serial.group(1))) == serial.group(1)


def test_requester_revokes_own_certificate_after_confirming(app: Flask, client: FlaskClient, runtime: Runtime,
                                                            tokens: dict[str, str]) -> None:
    mine = submit(client, tokens["requester"], csr_pem(cn="mine.example.com")).get_json()["certificate"]["serial_number"]
    theirs = submit(client, tokens["requester2"], csr_pem(cn="theirs.example.com")).get_json()["certificate"]["serial_number"]
    alice = _console(app, tokens["requester"])
    confirm = text(alice.get(f"/console/certificates/{mine}/revoke"))
    assert "Yes, revoke" in confirm and "keyCompromise" in confirm and "cessationOfOperation" not in confirm
    assert alice.get(f"/console/certificates/{theirs}/revoke").status_code == 403
    before = row_counts(runtime)
    refused = post_form(alice, f"/console/certificates/{mine}/revoke", {"reason": "cessationOfOperation"})
    assert refused.status_code == 403 and row_counts(runtime) == before
    done = post_form(alice, f"/console/certificates/{mine}/revoke", {"reason": "superseded"})
    assert done.status_code == 302
    assert "revoked" in text(alice.get(f"/console/certificates/{mine}")) and "superseded" in text(alice.get(f"/console/certificates/{mine}"))
    again = post_form(alice, f"/console/certificates/{mine}/revoke", {"reason": "superseded"})
    assert again.status_code == 409 and "revoked already" in text(again)


def test_queue_decide_twice_and_decided(app: Flask, client: FlaskClient, runtime: Runtime, tokens: dict[str, str],
                                        clock: FakeClock) -> None:
    old = submit(client, tokens["requester"], csr_pem(ips=["10.0.0.1"]), justification="oldest").get_json()["exception"]["id"]
    clock.advance(minutes=1)
    submit(client, tokens["requester"], csr_pem(ips=["9.9.9.9"]), justification="newer")
    carol = _console(app, tokens["approver"])
    queue = text(carol.get("/console/queue"))
    assert queue.index("oldest") < queue.index("newer") and "Private-Use" in queue and "0 / 1" in queue
    page = text(carol.get(f"/console/queue/{old}"))
    assert "SPKI SHA-256" in page and "oldest" in page and "0 of 1 required" in page
    assert "EC 256 bits (secp256r1)" in page and "10.0.0.1" in page and "RFC 1918" in page
    done = post_form(carol, f"/console/queue/{old}/decide", {"decision": "approve", "reason": "lab"})
    assert done.status_code == 302
    before = row_counts(runtime)
    again = post_form(carol, f"/console/queue/{old}/decide", {"decision": "approve", "reason": "lab"})
    assert again.status_code == 409 and "is approved, not pending" in text(again) and "cannot be decided again" in text(again)
    assert row_counts(runtime) == before


def test_four_eyes_and_reason_required(app: Flask, client: FlaskClient, runtime: Runtime, tokens: dict[str, str]) -> None:
    own = submit(client, tokens["admin"], csr_pem(ips=["9.9.9.9"])).get_json()["exception"]["id"]
    frank = _console(app, tokens["admin"])
    before = row_counts(runtime)
    refused = post_form(frank, f"/console/queue/{own}/decide", {"decision": "approve", "reason": "mine"})
    assert refused.status_code == 403 and "four eyes" in text(refused)
    carol = _console(app, tokens["approver"])
    empty = post_form(carol, f"/console/queue/{own}/decide", {"decision": "approve", "reason": " ", "grant_days": "7"})
    assert empty.status_code == 400 and "a reason is required" in text(empty) and 'value="7"' in text(empty)
    assert row_counts(runtime) == before


def test_expired_exception_says_so(app: Flask, client: FlaskClient, tokens: dict[str, str], clock: FakeClock) -> None:
    review = submit(client, tokens["requester"], csr_pem(ips=["9.9.9.9"])).get_json()["exception"]["id"]
    clock.advance(days=15)
    carol = _console(app, tokens["approver"])
    page = post_form(carol, f"/console/queue/{review}/decide", {"decision": "reject", "reason": "late"})
    assert page.status_code == 409 and "is expired, not pending" in text(page)


def test_two_approvals_when_the_policy_wants_two(settings: object, runtime: Runtime, tokens: dict[str, str], tmp_path: Path,
                                                 clock: FakeClock) -> None:
    policy = tmp_path / "two.toml"
    policy.write_text(DEFAULT_POLICY_PATH.read_text().replace("approvals_required = 1", "approvals_required = 2"))
    app = create_app(replace(runtime.settings, policy_file=policy), clock=clock)
    review = submit(app.test_client(), tokens["requester"], csr_pem(ips=["9.9.9.9"])).get_json()["exception"]["id"]
    carol, dave = _console(app, tokens["approver"]), _console(app, tokens["approver2"])
    post_form(carol, f"/console/queue/{review}/decide", {"decision": "approve", "reason": "one"})
    page = text(carol.get(f"/console/queue/{review}"))
    assert "1 of 2 required" in page and "pending" in page
    post_form(dave, f"/console/queue/{review}/decide", {"decision": "approve", "reason": "two"})
    assert "2 of 2 required" in text(dave.get(f"/console/queue/{review}")) and "approved" in text(dave.get(f"/console/queue/{review}"))


def test_audit_log_proof_verify_and_inventory_csv(app: Flask, client: FlaskClient, tokens: dict[str, str]) -> None:
    serial = submit(client, tokens["requester"], csr_pem(cn="a.example.com")).get_json()["certificate"]["serial_number"]
    erin = _console(app, tokens["auditor"])
    log = text(erin.get("/console/audit"))
    assert log.index("certificate:issued") < log.index("token:created")  # newest first
    assert "<td>certificate:issued</td>" in text(erin.get("/console/audit?event=certificate:issued&actor=alice"))
    assert "<td>certificate:issued</td>" not in text(erin.get("/console/audit?event=certificate:issued&actor=bob"))
    proof = text(erin.get("/console/audit/3"))
    assert "Verified: this event is in the signed tree head" in proof
    assert "Intact:" in text(erin.get("/console/audit/verify"))
    rows = list(csv.reader(io.StringIO(text(erin.get("/console/inventory.csv?dns=*.example.com")))))
    assert rows[0][0] == "serial_number" and [r[0] for r in rows[1:]] == [serial]
    assert serial in text(erin.get("/console/inventory?requester=alice"))
    assert serial not in text(erin.get("/console/inventory?requester=bob"))
    bad = erin.get("/console/inventory?ip=nope")
    assert bad.status_code == 400 and "neither an address nor a CIDR" in text(bad)


def test_ranges_add_search_remove_import(app: Flask, runtime: Runtime, tokens: dict[str, str]) -> None:
    frank = _console(app, tokens["admin"])
    assert "8.8.8.0/24 added" in text(post_form(frank, "/console/ranges/change", {"op": "add", "cidr": "8.8.8.0/24", "owner": "dns"}))
    assert "is owned: <code>8.8.8.0/24</code>" in text(frank.get("/console/ranges?ip=8.8.8.8"))
    assert "Nearest: <code>8.8.8.0/24</code>" in text(frank.get("/console/ranges?ip=8.8.9.1"))
    assert "not public" in text(frank.get("/console/ranges?ip=10.0.0.1"))
    no_reason = post_form(frank, "/console/ranges/change", {"op": "remove", "cidr": "8.8.8.0/24"})
    assert no_reason.status_code == 400 and "say why" in text(no_reason)
    removed = post_form(frank, "/console/ranges/change", {"op": "remove", "cidr": "8.8.8.0/24", "reason": "returned to RIPE"})
    assert "8.8.8.0/24 removed" in text(removed)
    assert "returned to RIPE" in text(frank.get("/console/audit/" + str(_last_index(runtime))))
    bad = io.BytesIO(b"1.1.1.0/24,one\n# comment\n1.1.1.1/24\n300.0.0.0/8\n")
    refused = post_form(frank, "/console/ranges/import", {"file": (bad, "r.txt")}, content_type="multipart/form-data")
    body = text(refused)
    assert refused.status_code == 400 and "line 3:" in body and "line 4:" in body and "line 1:" not in body
    assert "1.1.1.0/24" not in text(frank.get("/console/ranges"))
    good = io.BytesIO(b"1.1.1.0/24,one\n2001:db8::/32\n")
    assert "2 added" in text(post_form(frank, "/console/ranges/import", {"file": (good, "r.txt")}, content_type="multipart/form-data"))


def _last_index(runtime: Runtime) -> int:
    from service.usecases.audit_query import AuditQuery, query_audit

    with runtime.db.read() as session:
        rows, _ = query_audit(session, AuditQuery(), page=1, per_page=1, newest_first=True)
    return rows[0].index


def test_token_shown_once_then_revoked(app: Flask, tokens: dict[str, str]) -> None:
    frank = _console(app, tokens["admin"])
    made = text(post_form(frank, "/console/tokens", {"op": "create", "name": "grace", "role": "approver"}))
    secret = re.search(r'id="new-token" class="hash">(cg_[^<]+)<', made)
    assert secret
    assert secret.group(1) not in text(frank.get("/console/tokens"))
    grace = _console(app, secret.group(1))
    assert grace.get("/console/queue").status_code == 200
    assert "Token grace revoked" in text(post_form(frank, "/console/tokens", {"op": "revoke", "name": "grace"}))
    assert grace.get("/console/queue").status_code == 302
    dup = post_form(frank, "/console/tokens", {"op": "create", "name": "grace", "role": "approver"})
    assert dup.status_code == 409
