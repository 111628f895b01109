"""Every console page and form, every role and nobody: exact statuses, HTML refusals, the API's role table."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service.domain import Role
from service.process.runtime import Runtime
from service.web.blueprint import bp
from tests.api.helpers import add_range, submit
from tests.factories import csr_pem
from tests.web.console import post_form, sign_in

ROLES = ("requester", "approver", "auditor", "admin")
R, AP, AU, AD = Role.REQUESTER, Role.APPROVER, Role.AUDITOR, Role.ADMIN

# page -> roles that may open it (the API's table: requests are the owner's; inventory for readers; ...)
PAGES: dict[str, tuple[Role, ...]] = {
    "/console/": (R, AP, AU, AD),
    "/console/submit": (R, AD),
    "/console/requests": (R, AP, AU, AD),
    "/console/requests/{request_id}": (R, AP, AU, AD),
    "/console/certificates": (R, AP, AU, AD),
    "/console/certificates/{serial}": (R, AP, AU, AD),
    "/console/certificates/{serial}/download/pem": (R, AP, AU, AD),
    "/console/certificates/{serial}/download/chain": (R, AP, AU, AD),
    "/console/certificates/{serial}/download/der": (R, AP, AU, AD),
    "/console/certificates/{serial}/revoke": (R, AD),
    "/console/queue": (AP, AU, AD),
    "/console/queue/{review_id}": (AP, AU, AD),
    "/console/inventory": (AP, AU, AD),
    "/console/inventory.csv": (AP, AU, AD),
    "/console/audit": (AU, AD),
    "/console/audit/1": (AU, AD),
    "/console/audit/verify": (AU, AD),
    "/console/ranges": (AD,),
    "/console/tokens": (AD,),
    "/console/policy": (R, AP, AU, AD),
}
# form -> roles that may post it (refusals change nothing; the allowed ones are exercised elsewhere)
FORMS: dict[str, tuple[Role, ...]] = {
    "/console/submit": (R, AD),
    "/console/certificates/{serial}/revoke": (R, AD),
    "/console/queue/{review_id}/decide": (AP, AD),
    "/console/ranges/change": (AD,),
    "/console/ranges/import": (AD,),
    "/console/tokens": (AD,),
}


@pytest.fixture
def world(client: FlaskClient, tokens: dict[str, str]) -> dict[str, str]:
    """A request with a certificate and one with an exception, both alice's (the requester)."""
    add_range(client, tokens["admin"], "8.8.8.0/24")
    issued = submit(client, tokens["requester"], csr_pem(ips=["8.8.8.8"])).get_json()
    pending = submit(client, tokens["requester"], csr_pem(ips=["9.9.9.9"])).get_json()
    return {"request_id": issued["id"], "serial": issued["certificate"]["serial_number"], "review_id": pending["exception"]["id"]}


def test_every_console_route_is_in_the_matrix(app: Flask) -> None:
    rules = {r.rule for r in app.url_map.iter_rules() if r.endpoint.startswith("console.")}
    listed = {p.replace("{request_id}", "<request_id>").replace("{serial}", "<serial>").replace("{review_id}", "<review_id>")
              .replace("/audit/1", "/audit/<int:index>").replace("/download/pem", "/download/<kind>") for p in [*PAGES, *FORMS]}
    unlisted = rules - listed - {"/console/sign-in", "/console/sign-out", "/console/static/<path:filename>", "/console/<path:_anything>"}
    assert not unlisted
    assert bp.name == "console"


@pytest.mark.parametrize("role", ROLES)
def test_pages_by_role(app: Flask, tokens: dict[str, str], world: dict[str, str], role: str) -> None:
    client = app.test_client()
    sign_in(client, tokens[role])
    for page, allowed in PAGES.items():
        response = client.get(page.format(**world))
        expected = 200 if Role(role) in allowed else 403
        if page == "/console/":
            expected = 302
        assert response.status_code == expected, (page, role, response.status_code)
        if expected == 403:
            assert response.mimetype == "text/html" and "Not allowed" in response.get_data(as_text=True)


def test_nobody_is_sent_to_sign_in(client: FlaskClient, world: dict[str, str]) -> None:
    for page in PAGES:
        response = client.get(page.format(**world))
        assert response.status_code == 302 and "/console/sign-in" in response.headers["Location"], page


@pytest.mark.parametrize("role", ROLES)
def test_forms_by_role(app: Flask, runtime: Runtime, tokens: dict[str, str], world: dict[str, str], role: str) -> None:
    client = app.test_client()
    sign_in(client, tokens[role])
    for form, allowed in FORMS.items():
        if Role(role) in allowed:
            continue
        before = _audit_size(runtime)
        response = post_form(client, form.format(**world), {"reason": "x", "decision": "approve", "cidr": "1.2.3.0/24",
                                                            "name": "mallory", "role": "admin", "csr": "x"})
        assert response.status_code == 403, (form, role)
        assert _audit_size(runtime) == before


def _audit_size(runtime: Runtime) -> int:
    with runtime.db.read() as session:
        from service.usecases.audit_query import AuditQuery, query_audit
        return query_audit(session, AuditQuery(), page=1, per_page=1)[1]

