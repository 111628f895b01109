"""Every console form refuses a POST without its CSRF token (or with another session's), and changes nothing."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service.process.runtime import Runtime
from tests.api.helpers import add_range, row_counts, submit
from tests.factories import csr_pem
from tests.web.console import csrf_of, post_form, sign_in, text
from tests.web.test_role_matrix import _audit_size

FORMS = {  # form -> a body that the form would accept with its token
    "/console/sign-in": {"token": "{admin_token}"},
    "/console/sign-out": {},
    "/console/submit": {"csr": "{csr}", "action": "submit"},
    "/console/certificates/{serial}/revoke": {"reason": "superseded"},
    "/console/queue/{review_id}/decide": {"decision": "approve", "reason": "ok"},
    "/console/ranges/change": {"op": "add", "cidr": "5.5.5.0/24"},
    "/console/ranges/import": {},
    "/console/tokens": {"op": "create", "name": "zed", "role": "auditor"},
}


@pytest.fixture
def world(client: FlaskClient, tokens: dict[str, str]) -> dict[str, str]:
    add_range(client, tokens["admin"], "8.8.8.0/24")
    issued = submit(client, tokens["admin"], csr_pem(ips=["8.8.8.8"])).get_json()
    pending = submit(client, tokens["requester"], csr_pem(ips=["9.9.9.9"])).get_json()
    return {"serial": issued["certificate"]["serial_number"], "review_id": pending["exception"]["id"],
            "admin_token": tokens["admin"], "csr": csr_pem(cn="new.example.com").decode()}


@pytest.mark.parametrize("how", ["missing", "foreign", "garbled"])
def test_every_form_refuses_without_its_token(app: Flask, runtime: Runtime, tokens: dict[str, str],
                                              world: dict[str, str], how: str) -> None:
    client = app.test_client()
    sign_in(client, tokens["admin"])
    foreign = csrf_of(app.test_client())  # a valid token, but of another session
    before, audit_before = row_counts(runtime), _audit_size(runtime)
    for form, body in FORMS.items():
        data = {k: v.format(**world) for k, v in body.items()}
        if how == "foreign":
            data["csrf_token"] = foreign
        elif how == "garbled":
            data["csrf_token"] = "x" + csrf_of(client, "/console/policy")[1:]
        response = post_form(client, form.format(**world), data, csrf=False)
        assert response.status_code == 400, (form, response.status_code)
        assert "Form refused" in text(response) and response.mimetype == "text/html"
    assert row_counts(runtime) == before and _audit_size(runtime) == audit_before
    assert client.get("/console/policy").status_code == 200  # still signed in: sign-out was refused too


def test_the_same_forms_pass_with_the_token(app: Flask, runtime: Runtime, tokens: dict[str, str], world: dict[str, str]) -> None:
    client = app.test_client()
    sign_in(client, tokens["admin"])
    for form in ("/console/submit", "/console/ranges/change", "/console/tokens"):
        body = {k: v.format(**world) for k, v in FORMS[form].items()}
        assert post_form(client, form, body).status_code in (200, 302), form
