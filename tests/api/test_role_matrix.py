"""Every endpoint, every role, and no token: one table, exact answers.

Each case runs on a fresh database with the same small world: alice (requester) owns an issued
certificate and a pending exception; one owned range exists.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import load_pem_x509_certificate, ocsp
from flask.testing import FlaskClient

from tests.api.helpers import add_range, submit
from tests.conftest import bearer
from tests.factories import csr_pem

ROLES = ("requester", "approver", "auditor", "admin", None)


@dataclass
class World:
    request_id: str
    serial: str
    exception_id: str
    range_id: int
    ocsp_der: bytes


@pytest.fixture
def world(client: FlaskClient, tokens: dict[str, str]) -> World:
    rng = add_range(client, tokens["admin"], "5.6.7.0/24")
    issued = submit(client, tokens["requester"], csr_pem(ips=["5.6.7.8"])).get_json()
    pending = submit(client, tokens["requester"], csr_pem(ips=["10.0.0.8"])).get_json()
    chain = client.get("/ca.pem").data
    issuer = load_pem_x509_certificate(chain)
    leaf = load_pem_x509_certificate(issued["certificate"]["pem"].encode())
    req = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, hashes.SHA1()).build()
    return World(issued["id"], issued["certificate"]["serial_number"], pending["exception"]["id"], rng["id"],
                 req.public_bytes(serialization.Encoding.DER))


def expect(requester: int, approver: int, auditor: int, admin: int, anonymous: int) -> dict[str | None, int]:
    return dict(zip(ROLES, (requester, approver, auditor, admin, anonymous), strict=True))


ALL_OK = expect(200, 200, 200, 200, 200)
MATRIX: list[tuple[str, str, Any, dict[str | None, int]]] = [
    ("POST", "/api/v1/requests", "csr", expect(201, 403, 403, 201, 401)),
    ("POST", "/api/v1/requests?dry_run=true", "csr", expect(200, 403, 403, 200, 401)),
    ("GET", "/api/v1/requests/{request_id}", None, expect(200, 200, 200, 200, 401)),
    ("GET", "/api/v1/exceptions?status=pending", None, expect(403, 200, 200, 200, 401)),
    ("GET", "/api/v1/exceptions/{exception_id}", None, expect(403, 200, 200, 200, 401)),
    ("POST", "/api/v1/exceptions/{exception_id}/approve", {"reason": "ok"}, expect(403, 200, 403, 200, 401)),
    ("POST", "/api/v1/exceptions/{exception_id}/reject", {"reason": "no"}, expect(403, 200, 403, 200, 401)),
    ("POST", "/api/v1/exceptions/{exception_id}/withdraw", None, expect(200, 403, 403, 403, 401)),
    ("GET", "/api/v1/certificates", None, expect(403, 200, 200, 200, 401)),
    ("GET", "/api/v1/certificates/{serial}", None, expect(200, 200, 200, 200, 401)),
    ("POST", "/api/v1/certificates/{serial}/revoke", {"reason": "superseded"}, expect(200, 403, 403, 200, 401)),
    ("GET", "/api/v1/ranges", None, expect(403, 403, 403, 200, 401)),
    ("POST", "/api/v1/ranges", {"cidr": "5.6.8.0/24"}, expect(403, 403, 403, 201, 401)),
    ("DELETE", "/api/v1/ranges/{range_id}", None, expect(403, 403, 403, 204, 401)),
    ("GET", "/api/v1/ranges/lookup?ip=5.6.7.8", None, expect(200, 200, 200, 200, 401)),
    ("GET", "/api/v1/audit", None, expect(403, 403, 200, 200, 401)),
    ("GET", "/api/v1/audit/verify", None, expect(403, 403, 200, 200, 401)),
    ("GET", "/api/v1/audit/sth", None, ALL_OK),
    ("GET", "/api/v1/audit/key", None, ALL_OK),
    ("GET", "/api/v1/audit/proof/inclusion?index=0&tree_size=2", None, ALL_OK),
    ("GET", "/api/v1/audit/proof/consistency?first=1&second=2", None, ALL_OK),
    ("GET", "/api/v1/policy", None, expect(200, 200, 200, 200, 401)),
    ("GET", "/ca.pem", None, ALL_OK),
    ("GET", "/ca/issuing.cer", None, ALL_OK),
    ("GET", "/ca/root.cer", None, ALL_OK),
    ("GET", "/crl", None, ALL_OK),
    ("GET", "/crl/root", None, ALL_OK),
    ("POST", "/ocsp", "ocsp", ALL_OK),
    ("GET", "/ocsp/{ocsp_b64}", None, ALL_OK),
    ("GET", "/healthz", None, ALL_OK),
    ("GET", "/metrics", None, ALL_OK),
    ("GET", "/openapi.json", None, ALL_OK),
    ("GET", "/docs", None, ALL_OK),
]

CASES = [pytest.param(m, p, b, role, e[role], id=f"{m} {p} as {role or 'anonymous'}") for m, p, b, e in MATRIX for role in ROLES]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("method", "path", "body", "role", "status"), CASES)
def test_role_matrix(client: FlaskClient, tokens: dict[str, str], world: World,
                     method: str, path: str, body: Any, role: str | None, status: int) -> None:
    url = path.format(request_id=world.request_id, serial=world.serial, exception_id=world.exception_id,
                      range_id=world.range_id, ocsp_b64=base64.b64encode(world.ocsp_der).decode())
    headers = bearer(tokens[role]) if role else {}
    kwargs: dict[str, Any] = {"headers": headers}
    if body == "csr":
        kwargs["json"] = {"csr": csr_pem(cn="matrix.example.com").decode()}
    elif body == "ocsp":
        kwargs.update(data=world.ocsp_der, content_type="application/ocsp-request")
    elif body is not None:
        kwargs["json"] = body
    response = client.open(url, method=method, **kwargs)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    if status in (401, 403):
        assert response.get_json()["error"]["code"] == {401: "unauthorized", 403: "forbidden"}[status]


def test_revoked_and_unknown_tokens_are_unauthorized(client: FlaskClient, tokens: dict[str, str], runtime: Any, clock: Any) -> None:
    from service.tokens import revoke_token

    with runtime.db.write() as session:
        revoke_token(session, name="alice", actor="test", now=clock())
    for header in (bearer(tokens["requester"]), bearer("cg_not-a-token"), {"Authorization": "Basic abc"}):
        response = client.get("/api/v1/policy", headers=header)
        assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized"
