"""`POST /api/v1/requests` below Flask (`service.api.fast_submit`): the same answers as the Flask view.

A query string sends a request to the Flask view (`?dry_run=false` changes nothing else), so each
case here is sent both ways and the two answers are compared.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import REGISTRY

from service.api.fast_submit import FastSubmit
from service.process.observability import REQUEST_ID, RequestIdFilter
from service.process.runtime import Runtime
from tests.api.helpers import row_counts
from tests.conftest import bearer
from tests.factories import csr_pem

FAST = "/api/v1/requests"
RAW = {"Content-Type": "application/pkcs10"}
FLASK = "/api/v1/requests?dry_run=false"
# Keys whose values differ between two submissions of the same kind.
_PER_REQUEST = {"id", "created_at", "decided_at", "csr_sha256", "common_name", "serial_number", "pem",
                "not_before", "not_after", "sha256_fingerprint", "request_id"}


def _middleware(app: Flask) -> FastSubmit:
    middleware = app.wsgi_app
    assert isinstance(middleware, FastSubmit)
    return middleware


def _shape(value: Any) -> Any:
    """The answer with the values that differ per request blanked out."""
    if isinstance(value, dict):
        return {k: ("*" if k in _PER_REQUEST else _shape(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return value


@pytest.fixture
def flask_calls(app: Flask, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths (with query) that reached Flask."""
    middleware = _middleware(app)
    inner = middleware._inner
    calls: list[str] = []

    def spy(environ: dict[str, Any], start_response: Any) -> Any:
        calls.append(environ["PATH_INFO"] + ("?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else ""))
        return inner(environ, start_response)

    monkeypatch.setattr(middleware, "_inner", spy)
    return calls


def test_the_common_form_is_answered_below_flask_and_the_rest_by_flask(
        client: FlaskClient, tokens: dict[str, str], flask_calls: list[str]) -> None:
    headers = {**bearer(tokens["requester"]), **RAW}
    assert client.post(FAST, data=csr_pem(cn="a.example.com"), headers=headers).status_code == 201
    wrapped = {"csr": csr_pem(cn="b.example.com").decode()}
    assert client.post(FAST, json=wrapped, headers=bearer(tokens["requester"])).status_code == 201
    assert flask_calls == []
    assert client.post(FAST + "?dry_run=true", data=csr_pem(cn="c.example.com"), headers=headers).status_code == 200
    text = {**bearer(tokens["requester"]), "Content-Type": "text/plain"}
    assert client.post(FAST, data=b"x", headers=text).status_code == 400
    assert client.get(FAST + "/nope", headers=headers).status_code == 404
    assert flask_calls == [FAST + "?dry_run=true", FAST, FAST + "/nope"]


@pytest.mark.parametrize("content", ["pkcs10", "json"])
def test_an_issued_answer_is_the_flask_views_answer(client: FlaskClient, tokens: dict[str, str], content: str) -> None:
    def send(path: str, cn: str) -> Any:
        csr = csr_pem(cn=cn, dns=[cn])
        if content == "json":
            return client.post(path, json={"csr": csr.decode(), "validity_days": 30},
                               headers=bearer(tokens["requester"]))
        return client.post(path, data=csr, headers={**bearer(tokens["requester"]), **RAW})

    fast, slow = send(FAST, "fast.example.com"), send(FLASK, "slow.example.com")
    assert fast.status_code == slow.status_code == 201
    assert fast.headers["Content-Type"] == slow.headers["Content-Type"] == "application/json"
    assert int(fast.headers["Content-Length"]) == len(fast.data)
    assert fast.data.endswith(b"}\n") and b'": ' not in fast.data  # jsonify's compact form
    assert _shape(fast.get_json()) == _shape(slow.get_json())
    again = client.get(f"{FAST}/{fast.get_json()['id']}", headers=bearer(tokens["requester"]))
    assert again.get_json() == fast.get_json()


def test_an_exception_answer_is_the_flask_views_answer(client: FlaskClient, tokens: dict[str, str]) -> None:
    def send(path: str, cn: str) -> Any:
        return client.post(path, json={"csr": csr_pem(cn=cn, dns=[cn]).decode(), "justification": "lab"},
                           headers=bearer(tokens["requester"]))

    fast, slow = send(FAST, "www.google.com"), send(FLASK, "www.google.com")
    assert fast.status_code == slow.status_code == 202
    assert _shape(fast.get_json()) == _shape(slow.get_json())


@pytest.mark.parametrize(
    ("who", "body", "content_type", "extra"),
    [
        (None, b"-", "application/pkcs10", {}),
        ("nobody", b"-", "application/pkcs10", {}),
        ("approver", b"-", "application/pkcs10", {}),
        ("auditor", b"-", "application/json", {}),
        ("requester", b"{not json", "application/json", {}),
        ("requester", b'{"csr": 5}', "application/json", {}),
        ("requester", b'{"csr": "x", "validity_days": "soon"}', "application/json", {}),
        ("requester", b"", "application/pkcs10", {}),
        ("requester", b"not a csr", "application/pkcs10", {}),
        ("requester", b"-", "application/pkcs10; charset=utf-8", {}),
        ("requester", None, "application/pkcs10", {"Idempotency-Key": "bad\u00e9key"}),
        ("requester", csr_pem(cn="localhost", dns=["localhost"]), "application/x-pkcs10", {}),
    ],
)
def test_a_refusal_is_the_flask_views_refusal_and_writes_nothing(
        client: FlaskClient, runtime: Runtime, tokens: dict[str, str], flask_calls: list[str],
        who: str | None, body: bytes | None, content_type: str, extra: dict[str, str]) -> None:
    if body is None:
        body = csr_pem(cn="idem.example.com")
    headers = {"Content-Type": content_type, **extra}
    if who is not None:
        headers.update(bearer(tokens.get(who, "cg_unknown_secret")))
    before = row_counts(runtime)
    fast = client.post(FAST, data=body, headers=headers)
    assert flask_calls == ([] if body else [FAST])  # no body, no Content-Length: Flask answers
    slow = client.post(FLASK, data=body, headers=headers)
    assert 400 <= fast.status_code < 500
    assert (fast.status_code, _shape(fast.get_json())) == (slow.status_code, _shape(slow.get_json()))
    if "request_id" not in fast.get_json()["error"]:  # a policy refusal is stored (auditors see it)
        assert row_counts(runtime) == before


def test_a_body_shorter_than_its_length_is_a_bad_request(
        client: FlaskClient, runtime: Runtime, tokens: dict[str, str]) -> None:
    before = row_counts(runtime)
    answer = client.post(FAST, data=b"-----BEGIN", headers={**bearer(tokens["requester"]), **RAW},
                         environ_overrides={"CONTENT_LENGTH": "4000"})
    assert answer.status_code == 400 and answer.get_json()["error"]["code"] == "bad_request"
    assert row_counts(runtime) == before


def test_an_oversized_body_goes_to_flask_and_is_refused(
        client: FlaskClient, tokens: dict[str, str], flask_calls: list[str]) -> None:
    answer = client.post(FAST, data=b"x" * (64 * 1024 + 1), headers={**bearer(tokens["requester"]), **RAW})
    assert answer.status_code == 413 and answer.get_json()["error"]["code"] == "payload_too_large"
    assert flask_calls == [FAST]


def test_request_id_metrics_and_access_line(
        client: FlaskClient, tokens: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    caplog.handler.addFilter(RequestIdFilter())
    labels = {"route": FAST, "method": "POST", "status": "201"}
    counted = REGISTRY.get_sample_value("certgate_http_requests_total", labels) or 0.0
    in_flight = REGISTRY.get_sample_value("certgate_requests_in_flight")
    headers = {**bearer(tokens["requester"]), "Content-Type": "application/pkcs10"}
    with caplog.at_level(logging.INFO, logger="certgate.access"):
        mine = client.post(FAST, data=csr_pem(cn="a.example.com"), headers={**headers, "X-Request-ID": "deploy-42.a"})
        fresh = client.post(FAST, data=csr_pem(cn="b.example.com"), headers={**headers, "X-Request-ID": "no spaces!"})
    assert mine.headers["X-Request-ID"] == "deploy-42.a"
    assert re.fullmatch(r"[0-9a-f]{32}", fresh.headers["X-Request-ID"])
    lines = [(r.getMessage(), getattr(r, "request_id", None)) for r in caplog.records if r.name == "certgate.access"]
    assert [(m.split(" ")[:3], rid) for m, rid in lines] == [
        (["POST", FAST, "201"], "deploy-42.a"), (["POST", FAST, "201"], fresh.headers["X-Request-ID"])]
    assert REGISTRY.get_sample_value("certgate_http_requests_total", labels) == counted + 2
    assert REGISTRY.get_sample_value("certgate_requests_in_flight") == in_flight
    assert REQUEST_ID.get() is None


def test_the_answer_carries_no_secret(client: FlaskClient, tokens: dict[str, str]) -> None:
    answer = client.post(FAST, data=csr_pem(cn="a.example.com"), headers={**bearer(tokens["requester"]), **RAW})
    assert tokens["requester"] not in answer.get_data(as_text=True)
    assert "PRIVATE KEY" not in answer.get_data(as_text=True)
    assert json.loads(answer.data)["requester"] == "alice"
