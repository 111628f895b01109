"""Every field that shows user-supplied text is escaped; every console answer carries the security headers."""

from __future__ import annotations

import ipaddress
import re

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from flask import Flask
from flask.testing import FlaskClient

from tests.api.helpers import add_range, submit
from tests.conftest import bearer
from tests.factories import csr_pem, key
from tests.web.console import post_form, sign_in, text

XSS = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def test_user_text_is_escaped_everywhere(app: Flask, client: FlaskClient, tokens: dict[str, str]) -> None:
    admin = tokens["admin"]
    add_range(client, admin, "8.8.8.0/24", owner=XSS)  # range owner
    pending = submit(client, tokens["requester"], csr_pem(ips=["9.9.9.9"]), justification=XSS).get_json()  # justification
    review_id = pending["exception"]["id"]
    # an approval reason, kept by a second approval round: reject with the script as the reason
    assert client.post(f"/api/v1/exceptions/{review_id}/reject", json={"reason": XSS}, headers=bearer(tokens["approver"])).status_code == 200
    odd = submit(client, tokens["requester"], _csr_with_organization(XSS)).get_json()  # a subject attribute
    assert odd["status"] == "pending_exception", odd
    console = app.test_client()
    sign_in(console, admin)
    made = post_form(console, "/console/tokens", {"op": "create", "name": XSS, "role": "auditor"})  # a token name
    assert made.status_code == 200
    pages = [f"/console/queue?status=all", f"/console/queue/{review_id}", f"/console/requests/{pending['id']}",
             "/console/ranges", "/console/tokens", "/console/audit", "/console/audit?subject=" + XSS,
             "/console/inventory?dns=" + XSS, "/console/ranges?ip=" + XSS]
    pages += [f"/console/queue/{odd['exception']['id']}", f"/console/requests/{odd['id']}"]
    seen_escaped = 0
    for page in pages:
        body = text(console.get(page))
        assert XSS not in body, page
        seen_escaped += ESCAPED in body
    assert seen_escaped >= 7
    assert ESCAPED in text(console.get(f"/console/queue/{odd['exception']['id']}"))  # the decoded subject
    detail = text(console.get(f"/console/queue/{review_id}"))
    assert detail.count(ESCAPED) >= 2  # justification and the rejection reason
    events = text(console.get("/console/audit?event=token:created"))
    assert ESCAPED in events  # the token name in the event's subject


def _csr_with_organization(organization: str) -> bytes:
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)])
    san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("9.9.9.9"))])
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject).add_extension(san, critical=False)
    return builder.sign(key("p256"), hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def test_forms_echo_input_escaped(app: Flask, tokens: dict[str, str]) -> None:
    console = app.test_client()
    sign_in(console, tokens["requester"])
    page = post_form(console, "/console/submit", {"csr": XSS, "justification": XSS, "validity_days": XSS, "action": "preview"})
    body = text(page)
    assert page.status_code == 400 and XSS not in body and body.count(ESCAPED) >= 2


def test_security_headers_on_every_kind_of_answer(app: Flask, client: FlaskClient, tokens: dict[str, str]) -> None:
    console = app.test_client()
    answers = [console.get("/console/sign-in"), console.get("/console/queue"), console.get("/console/static/console.css"),
               console.post("/console/sign-out")]
    sign_in(console, tokens["requester"])
    answers += [console.get("/console/queue"), console.get("/console/submit"), console.get("/console/nope"),
                console.get("/console/requests/none")]
    for answer in answers:
        csp = answer.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["Referrer-Policy"] == "same-origin"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert [a.status_code for a in answers[4:]] == [403, 200, 404, 404]


def test_pages_have_no_inline_script_or_style_and_no_outside_assets(app: Flask, tokens: dict[str, str]) -> None:
    console = app.test_client()
    sign_in(console, tokens["admin"])
    labelled = 0
    for page in ("/console/sign-in", "/console/submit", "/console/queue", "/console/audit", "/console/ranges",
                 "/console/tokens", "/console/inventory", "/console/policy"):
        body = text(console.get(page))
        assert "<script" not in body and "style=" not in body and "<style" not in body, page
        assert "http://" not in body.replace("http://127.0.0.1", "") and "https://" not in body, page
        fields = re.findall(r'<(?:input|select|textarea)\b(?![^>]*type="hidden")[^>]*\bid="([^"]+)"', body)
        unlabelled = [f for f in fields if f'<label for="{f}">' not in body]
        controls = len(re.findall(r'<(?:input|select|textarea)\b(?![^>]*type="hidden")', body))
        assert not unlabelled and controls == len(fields), (page, unlabelled)
        labelled += len(fields)
    assert labelled >= 25
