"""`Idempotency-Key` on submissions and exception decisions: a retry answers the first result."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from flask.testing import FlaskClient

from service.idempotency import purge_expired
from service.process.runtime import Runtime
from tests.api.helpers import add_range, row_counts
from tests.clock import FakeClock
from tests.conftest import bearer
from tests.factories import csr_pem, key

OWNED = "5.6.7.0/24"


@pytest.fixture
def owned(client: FlaskClient, tokens: dict[str, str]) -> None:
    add_range(client, tokens["admin"], OWNED)


def post(client: FlaskClient, token: str, body: dict[str, Any], idem: str | None, path: str = "/api/v1/requests") -> Any:
    headers = bearer(token)
    if idem is not None:
        headers["Idempotency-Key"] = idem
    return client.post(path, json=body, headers=headers)


@functools.cache
def csr(ip: str = "5.6.7.8", index: int = 0) -> str:
    """One CSR per (ip, key): ECDSA signatures differ at each signing, and so would the body."""
    return csr_pem(cn="www.example.com", ips=[ip], private_key=key("p256", index)).decode()


def test_same_key_same_body_answers_the_first_issuance(client: FlaskClient, tokens: dict[str, str], owned: None,
                                                      runtime: Runtime) -> None:
    body = {"csr": csr(), "validity_days": 30}
    first = post(client, tokens["requester"], body, "k-1")
    assert first.status_code == 201, first.get_json()
    counts = row_counts(runtime)
    again = post(client, tokens["requester"], body, '"k-1"')  # the draft's sf-string form is the same key
    assert again.status_code == 201
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.get_json()["certificate"] == first.get_json()["certificate"]
    assert row_counts(runtime) == counts  # no new request, certificate or audit event


def test_same_key_other_body_is_refused_and_changes_nothing(client: FlaskClient, tokens: dict[str, str], owned: None,
                                                           runtime: Runtime) -> None:
    assert post(client, tokens["requester"], {"csr": csr()}, "k-2").status_code == 201
    counts = row_counts(runtime)
    for other in ({"csr": csr(index=1)}, {"csr": csr(), "validity_days": 30}, {"csr": csr(), "justification": "x"}):
        refused = post(client, tokens["requester"], other, "k-2")
        assert refused.status_code == 422
        assert refused.get_json()["error"]["code"] == "idempotency_key_reused"
    assert row_counts(runtime) == counts


def test_keys_belong_to_their_caller(client: FlaskClient, tokens: dict[str, str], owned: None) -> None:
    body = {"csr": csr()}
    mine = post(client, tokens["requester"], body, "shared-key").get_json()
    theirs = post(client, tokens["requester2"], body, "shared-key").get_json()
    assert mine["id"] != theirs["id"]
    without = [post(client, tokens["requester"], body, None).get_json()["id"] for _ in range(2)]
    assert len({mine["id"], *without}) == 3  # no key: every POST is a new request


def test_a_pending_exception_and_a_refusal_are_answered_again(client: FlaskClient, tokens: dict[str, str], owned: None,
                                                             runtime: Runtime) -> None:
    pending = post(client, tokens["requester"], {"csr": csr("10.0.0.5")}, "k-pending")
    assert pending.status_code == 202
    weak = csr_pem(cn="www.example.com", ips=["5.6.7.8"], private_key=key("rsa1024")).decode()
    refused = post(client, tokens["requester"], {"csr": weak}, "k-refused")
    assert refused.status_code == 422 and refused.get_json()["error"]["code"] == "key_too_small"
    counts = row_counts(runtime)
    again = post(client, tokens["requester"], {"csr": csr("10.0.0.5")}, "k-pending")
    assert again.status_code == 202 and again.get_json()["exception"]["id"] == pending.get_json()["exception"]["id"]
    refused_again = post(client, tokens["requester"], {"csr": weak}, "k-refused")
    assert refused_again.status_code == 422
    assert refused_again.get_json()["error"] == refused.get_json()["error"]  # same code, message and request id
    assert row_counts(runtime) == counts


def test_raw_pkcs10_with_a_key(client: FlaskClient, tokens: dict[str, str], owned: None) -> None:
    headers = {**bearer(tokens["requester"]), "Content-Type": "application/pkcs10", "Idempotency-Key": "raw-1"}
    first = client.post("/api/v1/requests", data=csr().encode(), headers=headers)
    again = client.post("/api/v1/requests", data=csr().encode(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.get_json()["id"] == again.get_json()["id"]


@pytest.mark.parametrize("bad", ["", "x" * 256, "caf\u00e9"])
def test_a_malformed_key_is_a_bad_request(client: FlaskClient, tokens: dict[str, str], owned: None,
                                          runtime: Runtime, bad: str) -> None:
    counts = row_counts(runtime)
    headers = {**bearer(tokens["requester"]), "Idempotency-Key": bad.encode("utf-8").decode("latin-1")}
    response = client.post("/api/v1/requests", json={"csr": csr()}, headers=headers)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "bad_request"
    assert row_counts(runtime) == counts


def test_keys_are_kept_24_hours_then_purged(client: FlaskClient, tokens: dict[str, str], owned: None,
                                           runtime: Runtime, clock: FakeClock) -> None:
    body = {"csr": csr()}
    first = post(client, tokens["requester"], body, "k-day").get_json()
    clock.advance(hours=23, minutes=59)
    assert post(client, tokens["requester"], body, "k-day").get_json()["id"] == first["id"]
    clock.advance(minutes=2)
    later = post(client, tokens["requester"], body, "k-day")  # expired: a new use of the key
    assert later.status_code == 201 and later.get_json()["id"] != first["id"]
    clock.advance(hours=25)
    assert purge_expired(runtime.db, clock()) == 1
    assert purge_expired(runtime.db, clock()) == 0


def _pending(client: FlaskClient, tokens: dict[str, str]) -> dict[str, Any]:
    response = post(client, tokens["requester"], {"csr": csr("10.0.0.5")}, None)
    assert response.status_code == 202
    return dict(response.get_json())


def test_an_approval_retried_with_its_key_is_not_a_second_approval(client: FlaskClient, tokens: dict[str, str],
                                                                 owned: None, runtime: Runtime) -> None:
    review = _pending(client, tokens)["exception"]["id"]
    path = f"/api/v1/exceptions/{review}/approve"
    first = post(client, tokens["approver"], {"reason": "lab"}, "ap-1", path)
    assert first.status_code == 200 and first.get_json()["status"] == "issued"
    counts = row_counts(runtime)
    again = post(client, tokens["approver"], {"reason": "lab"}, "ap-1", path)
    assert again.status_code == 200
    assert again.get_json()["certificate"] == first.get_json()["certificate"]
    assert row_counts(runtime) == counts
    assert post(client, tokens["approver"], {"reason": "lab"}, None, path).status_code == 409  # no key: decided already
    reused = post(client, tokens["approver"], {"reason": "other"}, "ap-1", path)
    assert reused.status_code == 422 and reused.get_json()["error"]["code"] == "idempotency_key_reused"


def test_a_rejection_retried_with_its_key_answers_the_same(client: FlaskClient, tokens: dict[str, str], owned: None,
                                                         runtime: Runtime) -> None:
    review = _pending(client, tokens)["exception"]["id"]
    path = f"/api/v1/exceptions/{review}/reject"
    first = post(client, tokens["approver"], {"reason": "no"}, "rj-1", path)
    assert first.status_code == 200 and first.get_json()["status"] == "rejected"
    counts = row_counts(runtime)
    again = post(client, tokens["approver"], {"reason": "no"}, "rj-1", path)
    assert again.status_code == 200 and again.get_json() == first.get_json()
    assert row_counts(runtime) == counts


def test_one_key_scopes_to_one_exception(client: FlaskClient, tokens: dict[str, str], owned: None) -> None:
    one, two = _pending(client, tokens)["exception"]["id"], _pending(client, tokens)["exception"]["id"]
    a = post(client, tokens["approver"], {"reason": "ok"}, "same", f"/api/v1/exceptions/{one}/approve").get_json()
    b = post(client, tokens["approver"], {"reason": "ok"}, "same", f"/api/v1/exceptions/{two}/approve").get_json()
    assert a["status"] == b["status"] == "issued" and a["id"] != b["id"]
