"""The exception workflow: four eyes, approve, reject, expire, withdraw, grants, re-judgment, races."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from policies.config import DEFAULT_POLICY_PATH
from service.process.app import create_app
from service.process.config import Settings
from service.domain import Role
from service.process.runtime import Runtime
from service.tokens import create_token
from tests.api.helpers import row_counts, submit
from tests.clock import FakeClock
from tests.conftest import bearer
from tests.factories import csr_pem, key


def open_exception(client: FlaskClient, token: str, ip: str = "10.0.0.5", **csr: object) -> dict[str, object]:
    response = submit(client, token, csr_pem(ips=[ip], **csr))  # type: ignore[arg-type]
    assert response.status_code == 202, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def decide(client: FlaskClient, token: str, exc_id: str, action: str = "approve", **body: object) -> object:
    return client.post(f"/api/v1/exceptions/{exc_id}/{action}", json={"reason": "known lab host", **body}, headers=bearer(token))


def test_approver_approves_and_certificate_appears(client: FlaskClient, tokens: dict[str, str]) -> None:
    pending = open_exception(client, tokens["requester"])
    queue = client.get("/api/v1/exceptions?status=pending", headers=bearer(tokens["approver"])).get_json()
    assert [e["id"] for e in queue["items"]] == [pending["exception"]["id"]]  # type: ignore[index]
    response = decide(client, tokens["approver"], pending["exception"]["id"])  # type: ignore[index]
    assert response.status_code == 200, response.get_json()  # type: ignore[attr-defined]
    body = response.get_json()  # type: ignore[attr-defined]
    assert body["status"] == "issued" and body["certificate"]["serial_number"]
    assert body["exception"]["status"] == "approved"
    assert body["exception"]["approvals"][0]["approver"] == "carol"
    assert [w["subject"] for w in body["waived"]] == ["10.0.0.5"]
    again = client.get(f"/api/v1/requests/{pending['id']}", headers=bearer(tokens["requester"])).get_json()
    assert again["certificate"]["serial_number"] == body["certificate"]["serial_number"]


def test_requester_cannot_approve_own_request_whatever_the_role(client: FlaskClient, tokens: dict[str, str]) -> None:
    pending = open_exception(client, tokens["admin"])
    response = decide(client, tokens["admin"], pending["exception"]["id"])  # type: ignore[index]
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"  # type: ignore[attr-defined]
    assert decide(client, tokens["requester"], pending["exception"]["id"]).status_code == 403  # type: ignore[index,attr-defined]


def test_reason_is_required(client: FlaskClient, tokens: dict[str, str]) -> None:
    pending = open_exception(client, tokens["requester"])
    url = f"/api/v1/exceptions/{pending['exception']['id']}/approve"  # type: ignore[index]
    assert client.post(url, json={}, headers=bearer(tokens["approver"])).status_code == 400
    assert client.post(url, json={"reason": ""}, headers=bearer(tokens["approver"])).status_code == 400


def test_reject_ends_without_certificate_and_approve_after_is_conflict(client: FlaskClient, tokens: dict[str, str], runtime: Runtime) -> None:
    pending = open_exception(client, tokens["requester"])
    exc_id = pending["exception"]["id"]  # type: ignore[index]
    rejected = decide(client, tokens["approver"], exc_id, "reject")
    assert rejected.status_code == 200 and rejected.get_json()["status"] == "rejected"  # type: ignore[attr-defined]
    late = decide(client, tokens["approver2"], exc_id)
    assert late.status_code == 409 and late.get_json()["error"]["code"] == "conflict"  # type: ignore[attr-defined]
    assert row_counts(runtime)["certificates"] == 0


def test_pending_exception_expires(client: FlaskClient, tokens: dict[str, str], clock: FakeClock, runtime: Runtime) -> None:
    pending = open_exception(client, tokens["requester"])
    clock.advance(days=14, seconds=1)
    response = decide(client, tokens["approver"], pending["exception"]["id"])  # type: ignore[index]
    assert response.status_code == 409
    state = client.get(f"/api/v1/requests/{pending['id']}", headers=bearer(tokens["requester"])).get_json()
    assert state["status"] == "expired" and state["exception"]["status"] == "expired"
    assert row_counts(runtime)["certificates"] == 0
    events = client.get("/api/v1/audit?event=exception:expired", headers=bearer(tokens["auditor"])).get_json()
    assert events["total"] == 1


def test_requester_withdraws_own_only(client: FlaskClient, tokens: dict[str, str]) -> None:
    pending = open_exception(client, tokens["requester"])
    url = f"/api/v1/exceptions/{pending['exception']['id']}/withdraw"  # type: ignore[index]
    assert client.post(url, headers=bearer(tokens["requester2"])).status_code == 403
    response = client.post(url, headers=bearer(tokens["requester"]))
    assert response.status_code == 200 and response.get_json()["status"] == "withdrawn"
    assert client.post(url, headers=bearer(tokens["requester"])).status_code == 409


def test_grant_lets_renewals_issue_at_once(client: FlaskClient, tokens: dict[str, str], clock: FakeClock) -> None:
    pending = open_exception(client, tokens["requester"], ip="10.20.30.40")
    decide(client, tokens["approver"], pending["exception"]["id"], grant_days=30)  # type: ignore[index]
    renewal = submit(client, tokens["requester"], csr_pem(ips=["10.20.30.40"], private_key=key("p256", 1)))
    assert renewal.status_code == 201, renewal.get_json()
    assert renewal.get_json()["grant_id"]
    other_ip = submit(client, tokens["requester"], csr_pem(ips=["10.20.30.41"]))
    assert other_ip.status_code == 202
    other_requester = submit(client, tokens["requester2"], csr_pem(ips=["10.20.30.40"]))
    assert other_requester.status_code == 202
    clock.advance(days=31)
    assert submit(client, tokens["requester"], csr_pem(ips=["10.20.30.40"])).status_code == 202
    events = client.get("/api/v1/audit?event=certificate:issued", headers=bearer(tokens["auditor"])).get_json()["items"]
    assert any(e["data"].get("grant_id") == renewal.get_json()["grant_id"] for e in events)


def test_two_approvals_required(tmp_path: Path, settings: Settings, clock: FakeClock, tokens: dict[str, str]) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(DEFAULT_POLICY_PATH.read_text().replace("approvals_required = 1", "approvals_required = 2"))
    strict = replace(settings, policy_file=policy)
    client = create_app(strict, clock=clock).test_client()
    pending = open_exception(client, tokens["requester"])
    exc_id = pending["exception"]["id"]  # type: ignore[index]
    first = decide(client, tokens["approver"], exc_id).get_json()  # type: ignore[attr-defined]
    assert first["status"] == "pending_exception" and len(first["exception"]["approvals"]) == 1
    assert decide(client, tokens["approver"], exc_id).status_code == 409  # the same approver twice
    second = decide(client, tokens["approver2"], exc_id).get_json()  # type: ignore[attr-defined]
    assert second["status"] == "issued"


def test_policy_change_rejudges_before_issuance(tmp_path: Path, settings: Settings, clock: FakeClock,
                                                client: FlaskClient, tokens: dict[str, str]) -> None:
    pending = open_exception(client, tokens["requester"], private_key=key("rsa2048"))
    policy = tmp_path / "policy.toml"
    policy.write_text(DEFAULT_POLICY_PATH.read_text().replace("rsa_min_bits = 2048", "rsa_min_bits = 3072"))
    stricter = create_app(replace(settings, policy_file=policy), clock=clock).test_client()
    response = decide(stricter, tokens["approver"], pending["exception"]["id"])  # type: ignore[index]
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "key_too_small"  # type: ignore[attr-defined]
    state = stricter.get(f"/api/v1/requests/{pending['id']}", headers=bearer(tokens["requester"])).get_json()
    assert state["status"] == "rejected" and "certificate" not in state


def test_racing_approvals_issue_exactly_one_certificate(app: Flask, runtime: Runtime, clock: FakeClock, tokens: dict[str, str]) -> None:
    client = app.test_client()
    pending = open_exception(client, tokens["requester"])
    approvers = []
    with runtime.db.write() as session:
        for i in range(8):
            approvers.append(create_token(session, name=f"racer{i}", role=Role.APPROVER, actor="test", now=clock()))
    barrier = threading.Barrier(len(approvers))
    statuses: list[int] = []

    def race(token: str) -> None:
        own = app.test_client()
        barrier.wait()
        statuses.append(decide(own, token, pending["exception"]["id"]).status_code)  # type: ignore[index,attr-defined]

    threads = [threading.Thread(target=race, args=(t,)) for t in approvers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] + [409] * 7
    counts = row_counts(runtime)
    assert counts["certificates"] == 1 and counts["approvals"] == 1
