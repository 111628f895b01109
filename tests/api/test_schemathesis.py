"""Schemathesis against `/openapi.json`, in process: every operation, every role, no 5xx, no answer off the schema.

One app and database serve the whole module (seeded with a range, an issued certificate and a
pending exception, so that path parameters sometimes name real objects). Each operation gets a
bounded, derandomized Hypothesis run mixing valid and invalid inputs, with a role (or no token)
drawn per example. The endpoints the OpenAPI document does not describe (PKI, revocation,
health, metrics, the docs themselves) are listed in `UNDOCUMENTED` and checked separately:
nothing is left out silently.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

# schemathesis must be in pyproject's `test` extra; until it is, say so in the summary rather than crash.
schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed: add it to the `test` extra")

from flask import Flask  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402
from schemathesis.specs.openapi.checks import (content_type_conformance, response_headers_conformance,  # noqa: E402
                                               response_schema_conformance, status_code_conformance)

from service.process.config import Settings  # noqa: E402
from service.process.runtime import Runtime  # noqa: E402
from service.tokens import create_token  # noqa: E402
from tests.conftest import BASE_URL, TOKEN_NAMES, bearer  # noqa: E402
from tests.factories import csr_pem  # noqa: E402

# x 7 roles (anonymous included) = 21 examples per operation; CERTGATE_FUZZ_EXAMPLES runs a deeper search.
EXAMPLES_PER_ROLE = int(os.environ.get("CERTGATE_FUZZ_EXAMPLES", "3"))
ACCEPTS = (None, "*/*", "application/json", "application/pem-certificate-chain")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
ROLES = (*TOKEN_NAMES, None)  # None: no Authorization header at all

# Routes outside the OpenAPI document, with the content type each must answer with (see the module doc).
UNDOCUMENTED = {
    "/ca.pem": "application/pem-certificate-chain",
    "/ca/issuing.cer": "application/pkix-cert",
    "/ca/root.cer": "application/pkix-cert",
    "/crl": "application/pkix-crl",
    "/crl/root": "application/pkix-crl",
    "/crl/<int:generation>": "application/pkix-crl",
    "/ca/<int:generation>.pem": "application/pem-certificate-chain",
    "/ca/issuing/<int:generation>.cer": "application/pkix-cert",
    "/ocsp": "application/ocsp-response",
    "/ocsp/<path:encoded>": "application/ocsp-response",
    "/healthz": "application/json",
    "/metrics": "text/plain",
    "/openapi.json": "application/json",
    "/docs": "text/html",
    "/docs/<path:filename>": "",
    "/docs/swagger-ui/<path:filename>": "",
    "/static/<path:filename>": "",
}


@dataclass
class Seeded:
    """The app under test and the ids of the objects seeded into it."""

    app: Flask
    tokens: dict[str, str]
    ids: dict[str, list[Any]]


@pytest.fixture(scope="module")
def seeded(ca_home: Path, sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """A module-wide app on SQLite with one of each object; the PostgreSQL API tests cover the other backend."""
    from service.process.app import create_app

    home = tmp_path_factory.mktemp("schemathesis")
    shutil.copytree(ca_home, home / "data")
    shutil.copyfile(sqlite_template, home / "certgate.db")
    env = {"CERTGATE_DATA_DIR": str(home / "data"), "CERTGATE_DATABASE_URL": f"sqlite:///{home / 'certgate.db'}",
           "CERTGATE_BASE_URL": BASE_URL}
    rt = Runtime.open(Settings.from_env(env))
    app = create_app(rt.settings, runtime=rt)
    tokens: dict[str, str] = {}
    with rt.db.write() as session:
        for key, (name, role) in TOKEN_NAMES.items():
            tokens[key] = create_token(session, name=name, role=role, actor="test", now=datetime.now(UTC))
    client = app.test_client()
    rng = client.post("/api/v1/ranges", json={"cidr": "5.6.7.0/24", "owner": "netops"}, headers=bearer(tokens["admin"]))
    dom = client.post("/api/v1/domains", json={"domain": "example.com", "owner": "web"}, headers=bearer(tokens["admin"]))
    assert dom.status_code == 201, dom.get_json()
    issued = client.post("/api/v1/requests", json={"csr": csr_pem(ips=["5.6.7.8"]).decode()}, headers=bearer(tokens["requester"]))
    pending = client.post("/api/v1/requests", json={"csr": csr_pem(ips=["9.9.9.9"]).decode()}, headers=bearer(tokens["requester"]))
    assert (rng.status_code, issued.status_code, pending.status_code) == (201, 201, 202)
    ids = {
        "range_id": [rng.get_json()["id"]],
        "domain_id": [dom.get_json()["id"]],
        "serial": [issued.get_json()["certificate"]["serial_number"]],
        "request_id": [issued.get_json()["id"], pending.get_json()["id"]],
        "review_id": [pending.get_json()["exception"]["id"]],
    }
    yield Seeded(app, tokens, ids)
    rt.db.dispose()


@pytest.fixture(scope="module")
def schema(seeded: Seeded) -> Any:
    """The OpenAPI document as the app serves it, bound to the app (WSGI transport)."""
    return schemathesis.openapi.from_wsgi("/openapi.json", seeded.app)


def _operations(schema: Any) -> dict[str, Any]:
    out = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        out[f"{operation.method.upper()} {operation.path}"] = operation
    return out


def test_documented_operations_are_the_ones_fuzzed(schema: Any) -> None:
    """The parametrization below must match the document: a new endpoint is fuzzed, not skipped."""
    assert sorted(_operations(schema)) == sorted(OPERATIONS)


def test_every_route_is_documented_or_listed(seeded: Seeded, schema: Any) -> None:
    documented = {path.replace("{", "<").replace("}", ">") for path in schema.raw_schema["paths"]}
    for rule in seeded.app.url_map.iter_rules():
        if rule.endpoint.startswith("console."):
            continue  # the console's HTML pages: tests/web/test_role_matrix.py lists every one
        bare = _bare_rule(rule.rule)
        acme = rule.rule.startswith("/acme/")  # RFC 8555's resources, documented there and tested in tests/acme
        assert bare in {_bare_rule(p) for p in documented} or rule.rule in UNDOCUMENTED or acme, rule.rule


def _bare_rule(rule: str) -> str:
    """`/a/<int:x>` and `/a/{x}` -> `/a/<x>`."""
    import re

    return re.sub(r"<(?:[a-z]+:)?([^>]+)>", r"<\1>", rule.replace("{", "<").replace("}", ">"))


OPERATIONS = [
    "POST /api/v1/requests",
    "POST /api/v1/batches",
    "GET /api/v1/requests/{request_id}",
    "GET /api/v1/exceptions",
    "GET /api/v1/exceptions/{review_id}",
    "POST /api/v1/exceptions/{review_id}/approve",
    "POST /api/v1/exceptions/{review_id}/reject",
    "POST /api/v1/exceptions/{review_id}/withdraw",
    "GET /api/v1/certificates",
    "GET /api/v1/certificates/{serial}",
    "POST /api/v1/certificates/{serial}/revoke",
    "GET /api/v1/ranges",
    "POST /api/v1/ranges",
    "DELETE /api/v1/ranges/{range_id}",
    "GET /api/v1/ranges/lookup",
    "GET /api/v1/domains",
    "POST /api/v1/domains",
    "DELETE /api/v1/domains/{domain_id}",
    "GET /api/v1/domains/lookup",
    "GET /api/v1/audit",
    "GET /api/v1/audit/verify",
    "GET /api/v1/audit/sth",
    "GET /api/v1/audit/key",
    "GET /api/v1/audit/proof/inclusion",
    "GET /api/v1/audit/proof/consistency",
    "GET /api/v1/policy",
]


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "anonymous")
@pytest.mark.parametrize("label", OPERATIONS)
def test_operation_conforms(schema: Any, seeded: Seeded, label: str, role: str | None) -> None:
    operation = _operations(schema)[label]
    cases = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(GenerationMode.NEGATIVE)
    real_ids = {name: st.sampled_from(values) for name, values in seeded.ids.items()}
    headers = bearer(seeded.tokens[role]) if role else {}

    @given(case=cases, real=st.booleans(), accept=st.sampled_from(ACCEPTS), data=st.data())
    @settings(max_examples=EXAMPLES_PER_ROLE, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: Any, real: bool, accept: str | None, data: st.DataObject) -> None:
        if real and case.path_parameters:
            for name in list(case.path_parameters):
                if name in real_ids:
                    case.path_parameters[name] = data.draw(real_ids[name])
        sent = {**headers, **({"Accept": accept} if accept else {})}
        response = case.call(headers=sent)
        case.validate_response(response, checks=CHECKS, headers=sent)

    run()


def _probe_statuses(seeded: Seeded, label: str) -> set[int]:
    """Statuses an operation gives to plain misuse: no token, a requester's token, unknown ids, an empty body."""
    method, path = label.split(" ", 1)
    client = seeded.app.test_client()
    unknown = path.replace("{range_id}", "999999")
    for name in ("request_id", "review_id", "serial"):
        unknown = unknown.replace("{" + name + "}", "ffff0000")
    calls = [({}, unknown), (bearer(seeded.tokens["requester2"]), unknown), (bearer(seeded.tokens["admin"]), unknown)]
    statuses = set()
    for headers, target in calls:
        body = {} if method in ("POST", "PUT") else None
        statuses.add(client.open(target, method=method, json=body, headers=headers).status_code)
    return statuses


def test_statuses_are_documented(schema: Any, seeded: Seeded) -> None:
    """Each status an operation answers misuse with is listed by it, not only covered by `default`."""
    missing = {}
    for label in OPERATIONS:
        method, path = label.split(" ", 1)
        documented = {int(code) for code in schema.raw_schema["paths"][path][method.lower()]["responses"] if code != "default"}
        if gaps := sorted(_probe_statuses(seeded, label) - documented):
            missing[label] = gaps
    assert missing == {}


# Edges the generators rarely reach; each once answered 500 or the wrong content type.
EDGE_QUERIES = [
    "/api/v1/ranges?page=50800191079926480896&per_page=415",
    "/api/v1/certificates?page=99999999999999999999",
    "/api/v1/audit?page=9223372036854775807",
    "/api/v1/exceptions?page=9223372036854775807&status=all",
    "/api/v1/certificates?issued_after=0001-01-01T00:00:00%2B01:00",
    "/api/v1/certificates?issued_before=9999-12-31T23:59:59-01:00",
    "/api/v1/audit?after=0001-01-01T00:00:00%2B23:59",
    "/api/v1/audit?before=9999-12-31T23:00:00-23:59",
]


@pytest.mark.parametrize("path", EDGE_QUERIES)
def test_out_of_range_queries_are_refused_not_crashed(seeded: Seeded, path: str) -> None:
    response = seeded.app.test_client().get(path, headers=bearer(seeded.tokens["admin"]))
    assert response.status_code == 400, response.get_data()
    assert response.get_json()["error"]["code"] == "bad_request"


@pytest.mark.parametrize(("accept", "mimetype"), [
    (None, "application/json"), ("*/*", "application/json"), ("application/json", "application/json"),
    ("application/pem-certificate-chain", "application/pem-certificate-chain"),
    ("application/pem-certificate-chain, application/json;q=0.5", "application/pem-certificate-chain"),
])
def test_certificate_is_json_unless_pem_is_asked_for(seeded: Seeded, accept: str | None, mimetype: str) -> None:
    headers = {**bearer(seeded.tokens["admin"]), **({"Accept": accept} if accept else {})}
    response = seeded.app.test_client().get(f"/api/v1/certificates/{seeded.ids['serial'][0]}", headers=headers)
    assert response.status_code == 200 and response.mimetype == mimetype


@pytest.mark.parametrize("path", sorted(p for p in UNDOCUMENTED if "<" not in p))
def test_undocumented_endpoints_answer_their_content_type(seeded: Seeded, path: str) -> None:
    client = seeded.app.test_client()
    response = client.post(path, data=b"") if path == "/ocsp" else client.get(path)
    assert response.status_code == 200
    assert response.mimetype == UNDOCUMENTED[path]


@given(body=st.binary(max_size=600), as_get=st.booleans())
@settings(max_examples=60, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
def test_ocsp_never_fails_on_garbage(seeded: Seeded, body: bytes, as_get: bool) -> None:
    """OCSP answers every body with an OCSP response (malformedRequest at worst), never a 5xx."""
    import base64

    client = seeded.app.test_client()
    if as_get and body:  # `GET /ocsp/` with nothing after it is another route (404)
        response = client.get("/ocsp/" + base64.b64encode(body).decode().replace("/", "%2F"))
    else:
        response = client.post("/ocsp", data=body, content_type="application/ocsp-request")
    assert response.status_code == 200 and response.mimetype == "application/ocsp-response"
