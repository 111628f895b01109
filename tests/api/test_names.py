"""DNS names through the API: exceptions and grants for foreign names, refusals, the limit, and a
dry run that answers exactly what the submission then gets; the domain registry and its audit."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography import x509
from flask import Flask
from flask.testing import FlaskClient

from service.process.app import create_app
from service.process.runtime import Runtime
from tests.api.helpers import add_range, row_counts, submit
from tests.conftest import bearer
from tests.factories import csr_pem

VERDICT_OF_STATUS = {201: "issue", 202: "exception", 422: "reject"}

# (cn, dns names, ips): every class of name the rules tell apart.
NAME_CASES: list[tuple[str | None, list[str], list[str]]] = [
    ("www.example.com", [], []),
    (None, ["www.example.com", "api.example.org", "*.example.net"], []),
    ("www.partner.com", [], []),
    (None, ["www.example.com", "shop.partner.com"], ["5.6.7.8"]),
    ("localhost", ["localhost"], []),
    ("printer.corp", [], []),
    ("host.123", [], []),
    (None, ["nas.local"], []),
    (None, ["vault.internal"], []),
    (None, ["a.example"], []),
    (None, ["host.notatld"], []),
    ("com", [], []),
    (None, ["co.uk"], []),
    (None, ["github.io"], []),
    (None, ["*.co.uk"], []),
    (None, ["*.google.com"], []),
    (None, ["badexample.com"], []),
    (None, ["xn--bcher-kva.example.com"], []),
    (None, [f"n{i}.example.com" for i in range(101)], []),
    (None, [f"n{i}.example.com" for i in range(99)], ["5.6.7.9"]),
    (None, [f"n{i}.example.com" for i in range(100)], ["5.6.7.9"]),
]


def _submitted(client: FlaskClient, token: str, csr: bytes) -> tuple[str, list[str]]:
    """The verdict and violation codes a real submission got."""
    answer = submit(client, token, csr)
    body = answer.get_json()
    violations = body["error"].get("violations", []) if "error" in body else body["violations"]
    return VERDICT_OF_STATUS[answer.status_code], [v["code"] for v in violations]


@pytest.mark.parametrize(("cn", "dns", "ips"), NAME_CASES, ids=lambda v: str(v)[:40])
def test_dry_run_tells_the_truth(client: FlaskClient, tokens: dict[str, str], runtime: Runtime,
                                 cn: str | None, dns: list[str], ips: list[str]) -> None:
    add_range(client, tokens["admin"], "5.6.7.0/24")
    csr = csr_pem(cn=cn, dns=dns, ips=ips)
    before = row_counts(runtime)
    dry = submit(client, tokens["requester"], csr, dry_run=True)
    assert dry.status_code == 200 and row_counts(runtime) == before
    dry_codes = [v["code"] for v in dry.get_json()["violations"]]
    assert _submitted(client, tokens["requester"], csr) == (dry.get_json()["verdict"], dry_codes)


def test_internal_names_and_public_suffixes_are_refused_before_signing(client: FlaskClient, tokens: dict[str, str]) -> None:
    for name, words in (("printer.corp", "internal name"), ("co.uk", "public suffix"), ("*.co.uk", "public suffix"),
                        ("host.123", "numeric")):
        answer = submit(client, tokens["requester"], csr_pem(cn=None, dns=[name]))
        error = answer.get_json()["error"]
        assert answer.status_code == 422 and error["code"] == "name_not_allowed", error
        assert words in error["message"] and error["violations"][0]["rule"].startswith("name.")
        assert "request_id" in error  # stored as rejected, as every refusal is


def test_too_many_names(client: FlaskClient, tokens: dict[str, str]) -> None:
    answer = submit(client, tokens["requester"], csr_pem(cn=None, dns=[f"h{i}.example.com" for i in range(150)]))
    assert answer.status_code == 422
    error = answer.get_json()["error"]
    assert error["code"] == "too_many_names" and "150 names" in error["message"] and len(error["violations"]) == 1


def test_a_foreign_name_opens_an_exception_and_a_grant_covers_its_renewal(client: FlaskClient, tokens: dict[str, str],
                                                                          runtime: Runtime) -> None:
    pending = submit(client, tokens["requester"], csr_pem(cn="www.partner.com"))
    assert pending.status_code == 202
    review = pending.get_json()["exception"]
    assert [(v["code"], v["subject"]) for v in review["violations"]] == [("dns_not_owned", "www.partner.com")]
    approved = client.post(f"/api/v1/exceptions/{review['id']}/approve", json={"reason": "partner site", "grant_days": 30},
                           headers=bearer(tokens["approver"]))
    assert approved.status_code == 200, approved.get_json()
    cert = x509.load_pem_x509_certificate(approved.get_json()["certificate"]["pem"].encode())
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName) \
        == ["www.partner.com"]
    renewal = submit(client, tokens["requester"], csr_pem(cn="www.partner.com"))
    assert renewal.status_code == 201, renewal.get_json()
    assert renewal.get_json()["grant_id"] is not None
    assert submit(client, tokens["requester"], csr_pem(cn="api.partner.com")).status_code == 202  # not granted
    assert submit(client, tokens["requester2"], csr_pem(cn="www.partner.com")).status_code == 202  # not bob's grant
    events = client.get("/api/v1/audit?event=grant:created", headers=bearer(tokens["auditor"])).get_json()["items"]
    assert events[0]["data"]["dns_names"] == ["www.partner.com"] and events[0]["data"]["ip_addresses"] == []
    opened = client.get("/api/v1/audit?event=exception:opened", headers=bearer(tokens["auditor"])).get_json()["items"]
    assert opened[0]["data"]["names"] == ["www.partner.com"]


def test_four_eyes_hold_for_names(client: FlaskClient, tokens: dict[str, str]) -> None:
    review = submit(client, tokens["admin"], csr_pem(cn="www.partner.com")).get_json()["exception"]
    own = client.post(f"/api/v1/exceptions/{review['id']}/approve", json={"reason": "mine"}, headers=bearer(tokens["admin"]))
    assert own.status_code == 403


def test_domain_registry_changes_are_audited_and_bad_input_changes_nothing(client: FlaskClient, tokens: dict[str, str],
                                                                           runtime: Runtime) -> None:
    admin = bearer(tokens["admin"])
    added = client.post("/api/v1/domains", json={"domain": "Shop.Partner.COM", "owner": "shop"}, headers=admin)
    assert added.status_code == 201 and added.get_json()["domain"] == "shop.partner.com"
    before = row_counts(runtime), client.get("/api/v1/domains", headers=admin).get_json()["total"]
    for body, status, code in (({"domain": "co.uk"}, 422, "name_not_allowed"), ({"domain": "github.io"}, 422, "name_not_allowed"),
                               ({"domain": "corp"}, 422, "name_not_allowed"), ({"domain": "printer.corp"}, 422, "name_not_allowed"),
                               ({"domain": "*.partner.com"}, 400, "bad_request"), ({"domain": "a..b.com"}, 400, "bad_request"),
                               ({"domain": "shop.partner.com"}, 409, "conflict"), ({}, 400, "bad_request")):
        answer = client.post("/api/v1/domains", json=body, headers=admin)
        assert (answer.status_code, answer.get_json()["error"]["code"]) == (status, code), (body, answer.get_json())
    assert (row_counts(runtime), client.get("/api/v1/domains", headers=admin).get_json()["total"]) == before
    assert submit(client, tokens["requester"], csr_pem(cn="www.shop.partner.com")).status_code == 201
    lookup = client.get("/api/v1/domains/lookup?name=WWW.shop.partner.com", headers=bearer(tokens["requester"])).get_json()
    assert lookup["verdict"] == "ok" and lookup["domain"]["owner"] == "shop"
    assert client.delete(f"/api/v1/domains/{added.get_json()['id']}", headers=admin).status_code == 204
    assert client.delete(f"/api/v1/domains/{added.get_json()['id']}", headers=admin).status_code == 404
    assert submit(client, tokens["requester"], csr_pem(cn="www.shop.partner.com")).status_code == 202
    events = client.get("/api/v1/audit?event=domain:", headers=bearer(tokens["auditor"])).get_json()["items"]
    shop = [(e["event"], e["actor"], e["subject"]) for e in events if "partner" in e["subject"]]
    assert shop == [("domain:added", "frank", "domain:shop.partner.com"), ("domain:removed", "frank", "domain:shop.partner.com")]
    assert client.get("/api/v1/domains?owner=web", headers=admin).get_json()["total"] == 3


def test_read_your_writes_across_two_workers(app: Flask, runtime: Runtime, tokens: dict[str, str]) -> None:
    """Two runtimes on one database stand for two workers: a change through one is seen by the next
    request through the other, without waiting."""
    other = Runtime.open(runtime.settings, clock=runtime.clock)
    try:
        a, b = app.test_client(), create_app(other.settings, runtime=other).test_client()
        csr = csr_pem(cn="api.late.com")
        assert submit(b, tokens["requester"], csr, dry_run=True).get_json()["verdict"] == "exception"  # b has built its index
        added = a.post("/api/v1/domains", json={"domain": "late.com", "owner": "late"}, headers=bearer(tokens["admin"]))
        assert added.status_code == 201
        assert submit(b, tokens["requester"], csr).status_code == 201
        assert a.delete(f"/api/v1/domains/{added.get_json()['id']}", headers=bearer(tokens["admin"])).status_code == 204
        assert submit(b, tokens["requester"], csr_pem(cn="www.late.com")).status_code == 202
    finally:
        other.db.dispose()


def test_policy_shows_the_name_rules(client: FlaskClient, tokens: dict[str, str]) -> None:
    names = client.get("/api/v1/policy", headers=bearer(tokens["requester"])).get_json()["names"]
    assert names["max_names"] == 100 and names["caa"] == {"enabled": False, "identities": []}
    assert names["public_suffix_list"]["rules"] > 5000 and names["public_suffix_list"]["source"].endswith(".dat")


def test_inventory_by_owned_domain_and_owner(client: FlaskClient, tokens: dict[str, str]) -> None:
    admin = bearer(tokens["admin"])
    assert client.post("/api/v1/domains", json={"domain": "shop.io", "owner": "shop"}, headers=admin).status_code == 201
    serials = {}
    for cn in ("shop.io", "www.shop.io", "www.example.com", "notshop.io"):
        answer: Any = submit(client, tokens["admin"], csr_pem(cn=cn))
        if answer.status_code == 202:
            answer = client.post(f"/api/v1/exceptions/{answer.get_json()['exception']['id']}/approve",
                                 json={"reason": "ok"}, headers=bearer(tokens["approver"]))
        serials[cn] = answer.get_json()["certificate"]["serial_number"]

    def found(query: str) -> set[str]:
        items = client.get(f"/api/v1/certificates?{query}", headers=bearer(tokens["auditor"])).get_json()["items"]
        return {cn for cn, serial in serials.items() if serial in {i["serial_number"] for i in items}}

    assert found("domain=shop.io") == {"shop.io", "www.shop.io"}
    assert found("owner=shop") == {"shop.io", "www.shop.io"}
    assert found("owner=web") == {"www.example.com"}
    assert found("owner=nobody") == set()
