"""`POST /api/v1/batches`: each item judged as a single submission, answered in order, committed whole."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from flask.testing import FlaskClient
from sqlalchemy import text

from service.process.app import create_app
from service.process.runtime import Runtime
from service.usecases.batch import CHUNK_ITEMS, MAX_BATCH_ITEMS
from tests.api.helpers import add_range, row_counts, submit
from tests.conftest import bearer
from tests.factories import csr_pem, key

OWNED = "5.6.7.0/24"


def post_batch(client: FlaskClient, token: str, items: list[Any], **headers: str) -> Any:
    return client.post("/api/v1/batches", json={"items": items}, headers={**bearer(token), **headers})


def tampered() -> str:
    der = bytearray(x509.load_pem_x509_csr(csr_pem(cn="tampered.example.com")).public_bytes(Encoding.DER))
    der[-5] ^= 0x01
    return x509.load_der_x509_csr(bytes(der)).public_bytes(Encoding.PEM).decode()


def audit_ok(client: FlaskClient, tokens: dict[str, str]) -> bool:
    return bool(client.get("/api/v1/audit/verify", headers=bearer(tokens["auditor"])).get_json()["ok"])


def test_mixed_items_are_answered_in_order_and_a_bad_item_spoils_nothing(
    client: FlaskClient, tokens: dict[str, str], runtime: Runtime
) -> None:
    add_range(client, tokens["admin"], OWNED)
    small = rsa.generate_private_key(65537, 1024)
    items: list[Any] = [
        {"csr": csr_pem(cn="a.example.com", ips=["5.6.7.8"]).decode(), "justification": "estate"},  # issued
        {"csr": csr_pem(cn="b.example.com", ips=["10.1.2.3"]).decode()},  # exception: not public
        {"csr": csr_pem(cn="c.example.com", private_key=small).decode()},  # refused: key too small
        {"csr": "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"},  # not a CSR
        {"csr": tampered()},  # no proof of possession
        {"csr": csr_pem(cn="d.example.com").decode(), "validity_days": "soon"},  # schema
        "not an object",
        {"nothing": "here"},
        {"csr": csr_pem(cn="e.example.com").decode(), "validity_days": 400},  # refused: validity
        {"csr": csr_pem(cn="f.example.com", dns=["f.example.com"]).decode(), "client_auth": True},  # issued
    ]
    before = row_counts(runtime)
    response = post_batch(client, tokens["requester"], items)
    assert response.status_code == 200, response.get_json()
    answers = response.get_json()["items"]
    assert [a["status"] for a in answers] == ["issued", "pending_exception", "rejected", "rejected", "rejected",
                                             "rejected", "rejected", "rejected", "rejected", "issued"]
    assert [a.get("error", {}).get("code") for a in answers] == [
        None, None, "key_too_small", "malformed_csr", "csr_signature_invalid", "bad_request", "bad_request",
        "malformed_csr", "validity_too_long", None]
    issued, pending, refused = answers[0], answers[1], answers[2]
    leaf = x509.load_pem_x509_certificate(issued["certificate"]["pem"].encode())
    assert leaf.subject.rfc4514_string() .endswith("CN=a.example.com") and issued["certificate"]["chain_pem"].count("BEGIN") == 2
    assert pending["exception"]["status"] == "pending" and [v["code"] for v in pending["violations"]] == ["ip_not_public"]
    # A stored refusal answers the request (status, violations) and the error naming it.
    assert refused["error"]["request_id"] == refused["id"]
    assert {v["code"] for v in refused["violations"]} == {"key_too_small"}
    for unstored in answers[3:8]:
        assert "id" not in unstored and set(unstored) == {"status", "error"}
    after = row_counts(runtime)
    assert after["requests"] - before["requests"] == 5  # the four judged items and the too-long validity
    assert after["certificates"] - before["certificates"] == 2
    assert after["exceptions"] - before["exceptions"] == 1
    assert after["audit_events"] - before["audit_events"] == 10  # two per stored request
    for answer in (issued, pending, refused):  # each readable as a request of its own
        single = client.get(f"/api/v1/requests/{answer['id']}", headers=bearer(tokens["requester"])).get_json()
        assert single["status"] == answer["status"] and single["violations"] == answer["violations"]
    assert audit_ok(client, tokens)


def test_an_item_is_judged_exactly_as_the_single_submission(client: FlaskClient, tokens: dict[str, str]) -> None:
    add_range(client, tokens["admin"], OWNED)
    csrs = [csr_pem(cn="x.example.com", ips=["5.6.7.9", "9.9.9.9", "fd00::1"]),
            csr_pem(cn="y.example.com", ips=["5.6.7.10"], private_key=key("rsa2048")),
            csr_pem(cn="localhost")]
    batch = post_batch(client, tokens["admin"], [{"csr": c.decode(), "validity_days": 30} for c in csrs]).get_json()
    for csr, item in zip(csrs, batch["items"], strict=True):
        single = submit(client, tokens["admin"], csr, validity_days=30).get_json()
        assert item.get("error", {}).get("code") == single.get("error", {}).get("code")
        assert item.get("error", {}).get("violations") == single.get("error", {}).get("violations")
        # A stored refusal's item also carries the request (with its violations); the single answer is the error alone.
        assert item.get("violations", item.get("error", {}).get("violations")) == \
            single.get("violations", single.get("error", {}).get("violations"))
        if "certificate" in item:
            assert item["validity_days"] == 30 and item["waived"] == []


def test_chunks_commit_whole_items_and_a_failure_midway_keeps_the_chunks_before_it(
    client: FlaskClient, tokens: dict[str, str], runtime: Runtime
) -> None:
    """A database failure inside the second chunk's transaction (a trigger refusing one row): the
    first chunk stays, whole (request, certificate, names, both audit events); nothing of the second."""
    _install_boom_trigger(runtime)
    items = [{"csr": csr_pem(cn=f"n{i}.example.com").decode()} for i in range(CHUNK_ITEMS + 20)]
    items[CHUNK_ITEMS + 10] = {"csr": csr_pem(cn="boom.example.com").decode()}
    before = row_counts(runtime)
    response = post_batch(client, tokens["requester"], items)
    assert response.status_code == 500 and response.get_json()["error"]["code"] == "internal_error"
    after = row_counts(runtime)
    grown = {name: after[name] - before[name] for name in after}
    assert grown == {"requests": CHUNK_ITEMS, "certificates": CHUNK_ITEMS, "certificate_names": CHUNK_ITEMS,
                     "exceptions": 0, "approvals": 0, "grants": 0, "audit_events": 2 * CHUNK_ITEMS}
    with runtime.db.read() as session:
        stored = set(session.execute(text("SELECT r.common_name FROM requests r JOIN certificates c ON c.request_id = r.id")).scalars())
    assert stored == {f"n{i}.example.com" for i in range(CHUNK_ITEMS)}
    assert audit_ok(client, tokens)


def test_a_batch_over_the_api_limit_but_within_its_own_is_served(client: FlaskClient, tokens: dict[str, str],
                                                                  runtime: Runtime) -> None:
    items = [{"csr": csr_pem(cn=f"m{i}.example.com", private_key=key("p256", i % 4)).decode(),
              "justification": "x" * 300} for i in range(CHUNK_ITEMS * 2 + 1)]
    assert len(json.dumps({"items": items})) > runtime.settings.max_request_bytes
    answers = post_batch(client, tokens["requester"], items).get_json()["items"]
    assert [a["status"] for a in answers] == ["issued"] * len(items)
    assert [a["common_name"] for a in answers] == [f"m{i}.example.com" for i in range(len(items))]
    assert len({a["certificate"]["serial_number"] for a in answers}) == len(items)


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b'{"items": []}', "application/json", 400, "bad_request"),
        (b'{"items": {"csr": "x"}}', "application/json", 400, "bad_request"),
        (b'[{"csr": "x"}]', "application/json", 400, "bad_request"),
        (b'{"items": [{"csr": "x"}], "extra": 1}', "application/json", 400, "bad_request"),
        (b"{not json", "application/json", 400, "bad_request"),
        (b'{"items": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "application/json", 400, "bad_request"),
        (b"-----BEGIN CERTIFICATE REQUEST-----", "application/pkcs10", 400, "bad_request"),
        (json.dumps({"items": [{"csr": "x"}] * (MAX_BATCH_ITEMS + 1)}).encode(), "application/json", 413, "payload_too_large"),
        (b'{"items": ["' + b"x" * (4 * 1024 * 1024) + b'"]}', "application/json", 413, "payload_too_large"),
    ],
    ids=["empty", "not-a-list", "bare-list", "extra-key", "not-json", "nested-deep", "not-json-type", "1001-items",
         "over-4MiB"],
)
def test_bad_batches_are_refused_whole_and_change_nothing(client: FlaskClient, tokens: dict[str, str], runtime: Runtime,
                                                          body: bytes, content_type: str, status: int, code: str) -> None:
    before = row_counts(runtime)
    response = client.post("/api/v1/batches", data=body, content_type=content_type, headers=bearer(tokens["requester"]))
    assert response.status_code == status, response.get_json()
    assert response.get_json()["error"]["code"] == code
    assert row_counts(runtime) == before


def test_the_batch_limit_is_configurable(runtime: Runtime, tokens: dict[str, str]) -> None:
    small = dataclasses.replace(runtime.settings, max_batch_bytes=1000)
    client = create_app(small, runtime=dataclasses.replace(runtime, settings=small)).test_client()
    one = {"csr": csr_pem(cn="one.example.com").decode()}
    assert post_batch(client, tokens["requester"], [one]).status_code == 200
    response = post_batch(client, tokens["requester"], [one] * 5)
    assert response.status_code == 413 and response.get_json()["error"]["code"] == "payload_too_large"


def test_a_retried_batch_answers_the_first_results_and_issues_nothing(client: FlaskClient, tokens: dict[str, str],
                                                                      runtime: Runtime) -> None:
    items = [{"csr": csr_pem(cn="i1.example.com").decode()}, {"csr": csr_pem(cn="i2.example.com", ips=["10.2.3.4"]).decode()},
             {"csr": "not a CSR"}, {"csr": csr_pem(cn="i3.example.com").decode(), "validity_days": 400}]
    first = post_batch(client, tokens["requester"], items, **{"Idempotency-Key": "estate-2026-12"})
    assert first.status_code == 200
    before = row_counts(runtime)
    again = post_batch(client, tokens["requester"], items, **{"Idempotency-Key": "estate-2026-12"})
    assert again.status_code == 200 and again.get_json() == first.get_json()
    assert row_counts(runtime) == before
    # The same key with another body is refused and changes nothing; another caller's key is its own.
    other = post_batch(client, tokens["requester"], items[:1], **{"Idempotency-Key": "estate-2026-12"})
    assert other.status_code == 422 and other.get_json()["error"]["code"] == "idempotency_key_reused"
    assert row_counts(runtime) == before
    theirs = post_batch(client, tokens["admin"], items, **{"Idempotency-Key": "estate-2026-12"})
    assert theirs.status_code == 200 and theirs.get_json()["items"][0]["id"] != first.get_json()["items"][0]["id"]


def test_a_retry_after_a_failure_midway_resumes_without_issuing_twice(client: FlaskClient, tokens: dict[str, str],
                                                                      runtime: Runtime) -> None:
    """The first call dies in its second chunk; the retry with its key answers the first chunk from
    the store and issues only the rest: every CSR issued exactly once."""
    _install_boom_trigger(runtime)
    items = [{"csr": csr_pem(cn=f"r{i}.example.com").decode()} for i in range(CHUNK_ITEMS + 20)]
    items[CHUNK_ITEMS + 5] = {"csr": csr_pem(cn="boom.example.com").decode()}
    before = row_counts(runtime)
    assert post_batch(client, tokens["requester"], items, **{"Idempotency-Key": "resume"}).status_code == 500
    with runtime.db.read() as session:
        first_chunk = dict(session.execute(text("SELECT common_name, id FROM requests")).all())
    with runtime.db.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER boom" if runtime.db.is_sqlite else "DROP TRIGGER boom ON requests"))
    retry = post_batch(client, tokens["requester"], items, **{"Idempotency-Key": "resume"})
    assert retry.status_code == 200
    answers = retry.get_json()["items"]
    assert [a["status"] for a in answers] == ["issued"] * len(items)
    assert [a["id"] for a in answers[:CHUNK_ITEMS]] == [first_chunk[f"r{i}.example.com"] for i in range(CHUNK_ITEMS)]
    grown = {name: count - before[name] for name, count in row_counts(runtime).items()}
    assert grown["requests"] == grown["certificates"] == len(items) and grown["audit_events"] == 2 * len(items)
    assert post_batch(client, tokens["requester"], items, **{"Idempotency-Key": "resume"}).get_json() == retry.get_json()
    assert audit_ok(client, tokens)


def _install_boom_trigger(runtime: Runtime) -> None:
    """A trigger that fails the insert of the request named boom.example.com (a real database failure)."""
    with runtime.db.engine.begin() as conn:
        if runtime.db.is_sqlite:
            conn.execute(text("CREATE TRIGGER boom BEFORE INSERT ON requests WHEN NEW.common_name = 'boom.example.com' "
                              "BEGIN SELECT RAISE(ABORT, 'boom'); END"))
        else:
            conn.execute(text("CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                              "IF NEW.common_name = 'boom.example.com' THEN RAISE EXCEPTION 'boom'; END IF; "
                              "RETURN NEW; END $$"))
            conn.execute(text("CREATE TRIGGER boom BEFORE INSERT ON requests FOR EACH ROW EXECUTE FUNCTION boom()"))
