"""Every endpoint, every role, and no token: one table, exact answers.

The table shares one app and database (SQLite); a case that changes state gets its own fresh
object (a new exception, certificate or range owned by alice or the admin).
"""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from flask.testing import FlaskClient

from service.process.app import create_app
from service.process.config import Settings
from service.process.runtime import Runtime
from service.tokens import create_token
from tests.api.helpers import add_range, submit
from tests.conftest import TOKEN_NAMES, bearer
from tests.factories import csr_pem

ROLES = ("requester", "approver", "auditor", "admin", None)


@dataclass
class World:
    """One app and database for the whole table; objects that a case may change are made fresh."""

    client: FlaskClient
    tokens: dict[str, str]
    request_id: str
    serial: str
    issuer: x509.Certificate
    counter: int = 0

    def fresh(self, what: str) -> str:
        """A new object for a case that changes state (approve, revoke, delete ...)."""
        self.counter += 1
        alice = self.tokens["requester"]
        if what == "exception_id":
            return str(submit(self.client, alice, csr_pem(ips=[f"10.9.{self.counter // 250}.{self.counter % 250}"])).get_json()["exception"]["id"])
        if what == "serial":
            return str(submit(self.client, alice, csr_pem(cn=f"s{self.counter}.example.com")).get_json()["certificate"]["serial_number"])
        if what == "domain_id":
            answer = self.client.post("/api/v1/domains", json={"domain": f"d{self.counter}.example.net"},
                                      headers=bearer(self.tokens["admin"]))
            return str(answer.get_json()["id"])
        if what == "range_id":
            return str(add_range(self.client, self.tokens["admin"], f"77.{self.counter // 250}.{self.counter % 250}.0/24")["id"])
        raise KeyError(what)

    def ocsp_der(self) -> bytes:
        leaf = x509.load_pem_x509_certificate(self.client.get(f"/api/v1/certificates/{self.serial}",
                                                              headers=bearer(self.tokens["admin"])).get_json()["pem"].encode())
        request = ocsp.OCSPRequestBuilder().add_certificate(leaf, self.issuer, hashes.SHA1()).build()
        return request.public_bytes(serialization.Encoding.DER)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, ca_home: Path, sqlite_template: Path) -> Iterator[World]:
    home = tmp_path_factory.mktemp("matrix")
    shutil.copytree(ca_home, home / "data")
    shutil.copyfile(sqlite_template, home / "certgate.db")
    settings = Settings.from_env({"CERTGATE_DATA_DIR": str(home / "data"), "CERTGATE_DATABASE_URL": f"sqlite:///{home / 'certgate.db'}"})
    runtime = Runtime.open(settings)
    client = create_app(settings, runtime=runtime).test_client()
    tokens: dict[str, str] = {}
    with runtime.db.write() as session:
        for key, (name, role) in TOKEN_NAMES.items():
            tokens[key] = create_token(session, name=name, role=role, actor="test", now=runtime.clock())
    add_range(client, tokens["admin"], "5.6.7.0/24")
    assert client.post("/api/v1/domains", json={"domain": "example.com"}, headers=bearer(tokens["admin"])).status_code == 201
    issued = submit(client, tokens["requester"], csr_pem(ips=["5.6.7.8"])).get_json()
    issuer = x509.load_pem_x509_certificate(client.get("/ca.pem").data)
    yield World(client, tokens, issued["id"], issued["certificate"]["serial_number"], issuer)
    runtime.db.dispose()


def expect(requester: int, approver: int, auditor: int, admin: int, anonymous: int) -> dict[str | None, int]:
    return dict(zip(ROLES, (requester, approver, auditor, admin, anonymous), strict=True))


ALL_OK = expect(200, 200, 200, 200, 200)
MATRIX: list[tuple[str, str, Any, dict[str | None, int]]] = [
    ("POST", "/api/v1/requests", "csr", expect(201, 403, 403, 201, 401)),
    ("POST", "/api/v1/requests?dry_run=true", "csr", expect(200, 403, 403, 200, 401)),
    ("POST", "/api/v1/batches", "batch", expect(200, 403, 403, 200, 401)),
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
    ("GET", "/api/v1/domains", None, expect(403, 403, 403, 200, 401)),
    ("POST", "/api/v1/domains", {"domain": "example.org", "owner": "web"}, expect(403, 403, 403, 201, 401)),
    ("DELETE", "/api/v1/domains/{domain_id}", None, expect(403, 403, 403, 204, 401)),
    ("GET", "/api/v1/domains/lookup?name=www.example.com", None, expect(200, 200, 200, 200, 401)),
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
    ("GET", "/docs/swagger-ui/swagger-ui-bundle.js", None, ALL_OK),
]

CASES = [pytest.param(m, p, b, role, e[role], id=f"{m} {p} as {role or 'anonymous'}") for m, p, b, e in MATRIX for role in ROLES]
FRESH = ("exception_id", "serial", "range_id", "domain_id")


@pytest.mark.parametrize(("method", "path", "body", "role", "status"), CASES)
def test_role_matrix(world: World, method: str, path: str, body: Any, role: str | None, status: int) -> None:
    values = {"request_id": world.request_id, "serial": world.serial}
    for name in FRESH:
        if "{" + name + "}" in path:
            values[name] = world.fresh(name)
    if "{ocsp_b64}" in path or body == "ocsp":
        values["ocsp_b64"] = base64.b64encode(world.ocsp_der()).decode()
    url = path.format(**values)
    kwargs: dict[str, Any] = {"headers": bearer(world.tokens[role]) if role else {}}
    if body == "csr":
        kwargs["json"] = {"csr": csr_pem(cn="matrix.example.com").decode()}
    elif body == "batch":
        kwargs["json"] = {"items": [{"csr": csr_pem(cn="matrix.example.com").decode()}]}
    elif body == "ocsp":
        kwargs.update(data=world.ocsp_der(), content_type="application/ocsp-request")
    elif body is not None:
        kwargs["json"] = body
    response = world.client.open(url, method=method, **kwargs)
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
