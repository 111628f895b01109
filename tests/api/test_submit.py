"""Submitting CSRs through the Flask test client: issue, exception, refusal, and no half-writes."""

from __future__ import annotations

import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from flask.testing import FlaskClient

from service.process.runtime import Runtime
from tests.api.helpers import add_range, row_counts, submit
from tests.conftest import bearer
from tests.factories import csr_pem, key

OWNED = "5.6.7.0/24"


@pytest.fixture
def owned(client: FlaskClient, tokens: dict[str, str]) -> None:
    add_range(client, tokens["admin"], OWNED)
    add_range(client, tokens["admin"], "2a00:1450:4000::/37", "v6 netops")


def test_compliant_request_is_issued_with_chain(client: FlaskClient, tokens: dict[str, str], owned: None) -> None:
    response = submit(client, tokens["requester"], csr_pem(cn="www.example.com", dns=["www.example.com"], ips=["5.6.7.8"]))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] == "issued" and body["violations"] == []
    cert = x509.load_pem_x509_certificate(body["certificate"]["pem"].encode())
    assert format(cert.serial_number, "x") == body["certificate"]["serial_number"]
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["5.6.7.8"]
    assert body["certificate"]["chain_pem"].count("BEGIN CERTIFICATE") == 2
    assert body["policy_version"].startswith("sha256:")


def test_request_can_be_read_back_by_owner_not_by_other_requester(client: FlaskClient, tokens: dict[str, str]) -> None:
    body = submit(client, tokens["requester"], csr_pem(cn="a.example.com")).get_json()
    mine = client.get(f"/api/v1/requests/{body['id']}", headers=bearer(tokens["requester"]))
    assert mine.status_code == 200 and mine.get_json()["certificate"]["serial_number"] == body["certificate"]["serial_number"]
    assert client.get(f"/api/v1/requests/{body['id']}", headers=bearer(tokens["requester2"])).status_code == 403
    assert client.get(f"/api/v1/requests/{body['id']}", headers=bearer(tokens["auditor"])).status_code == 200


@pytest.mark.parametrize(
    ("names", "code"),
    [
        ({"ips": ["10.0.0.5"]}, "ip_not_public"),
        ({"ips": ["9.9.9.9"]}, "ip_not_owned"),
        ({"ips": ["::ffff:10.0.0.5"]}, "ip_not_public"),
        ({"cn": "192.168.1.1"}, "ip_not_public"),
        ({"dns": ["10.1.2.3"]}, "ip_not_public"),
    ],
)
def test_ip_violations_open_an_exception(client: FlaskClient, tokens: dict[str, str], owned: None,
                                         names: dict[str, object], code: str) -> None:
    args = {"cn": "www.example.com", **names}
    response = submit(client, tokens["requester"], csr_pem(**args))  # type: ignore[arg-type]
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["status"] == "pending_exception" and "certificate" not in body
    assert [v["code"] for v in body["violations"]] == [code]
    assert body["exception"]["status"] == "pending" and body["exception"]["violations"] == body["violations"]


def test_every_ip_violation_is_listed(client: FlaskClient, tokens: dict[str, str], owned: None) -> None:
    body = submit(client, tokens["requester"], csr_pem(cn="10.0.0.1", ips=["10.0.0.1", "9.9.9.9", "5.6.7.8", "fd00::1"])).get_json()
    assert sorted((v["code"], v["subject"]) for v in body["violations"]) == [
        ("ip_not_owned", "9.9.9.9"), ("ip_not_public", "10.0.0.1"), ("ip_not_public", "fd00::1")]


def test_weak_key_is_rejected_and_recorded(client: FlaskClient, tokens: dict[str, str], runtime: Runtime) -> None:
    small = rsa.generate_private_key(65537, 1024)
    response = submit(client, tokens["requester"], csr_pem(private_key=small, ips=["10.0.0.1"]))
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "key_too_small"
    assert {v["code"] for v in error["violations"]} == {"key_too_small", "ip_not_public"}
    stored = client.get(f"/api/v1/requests/{error['request_id']}", headers=bearer(tokens["requester"])).get_json()
    assert stored["status"] == "rejected"
    assert row_counts(runtime)["certificates"] == 0


def test_validity_too_long_is_rejected(client: FlaskClient, tokens: dict[str, str]) -> None:
    response = submit(client, tokens["requester"], csr_pem(), validity_days=400)
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "validity_too_long"


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"", "application/pkcs10", 400, "malformed_csr"),
        (os.urandom(300), "application/pkcs10", 400, "malformed_csr"),
        (b"-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n", "application/pkcs10", 400, "malformed_csr"),
        (b'{"csr": 5}', "application/json", 400, "malformed_csr"),
        (b'{"nothing": "here"}', "application/json", 400, "malformed_csr"),
        (b"{not json", "application/json", 400, "bad_request"),
        (b"[" * 30_000 + b"]" * 30_000, "application/json", 400, "bad_request"),
        (b"x" * (64 * 1024 + 1), "application/pkcs10", 413, "payload_too_large"),
    ],
)
def test_bad_input_changes_nothing(client: FlaskClient, tokens: dict[str, str], runtime: Runtime,
                                   body: bytes, content_type: str, status: int, code: str) -> None:
    before = row_counts(runtime)
    response = client.post("/api/v1/requests", data=body, content_type=content_type, headers=bearer(tokens["requester"]))
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    assert row_counts(runtime) == before


def test_certificate_sent_as_csr_is_malformed(client: FlaskClient, tokens: dict[str, str], runtime: Runtime) -> None:
    issued = submit(client, tokens["requester"], csr_pem()).get_json()
    before = row_counts(runtime)
    response = client.post("/api/v1/requests", data=issued["certificate"]["pem"], content_type="application/pkcs10",
                           headers=bearer(tokens["requester"]))
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "malformed_csr"
    assert row_counts(runtime) == before


def test_tampered_signature_is_refused(client: FlaskClient, tokens: dict[str, str], runtime: Runtime) -> None:
    csr = x509.load_pem_x509_csr(csr_pem())
    der = bytearray(csr.public_bytes(Encoding.DER))
    der[-5] ^= 0x01
    before = row_counts(runtime)
    response = client.post("/api/v1/requests", data=bytes(der), content_type="application/pkcs10", headers=bearer(tokens["requester"]))
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "csr_signature_invalid"
    assert row_counts(runtime) == before


def test_raw_pkcs10_pem_and_der_are_accepted(client: FlaskClient, tokens: dict[str, str]) -> None:
    pem = csr_pem(cn="raw.example.com")
    der = x509.load_pem_x509_csr(pem).public_bytes(Encoding.DER)
    for body in (pem, der, pem.replace(b"\n", b"\r\n")):
        response = client.post("/api/v1/requests", data=body, content_type="application/pkcs10", headers=bearer(tokens["requester"]))
        assert response.status_code == 201, response.get_json()


def test_ca_true_request_yields_a_leaf(client: FlaskClient, tokens: dict[str, str]) -> None:
    ask = [(x509.BasicConstraints(ca=True, path_length=None), True),
           (x509.KeyUsage(True, False, False, False, False, True, True, False, False), True)]
    body = submit(client, tokens["requester"], csr_pem(extensions=ask)).get_json()
    cert = x509.load_pem_x509_certificate(body["certificate"]["pem"].encode())
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign is False


def test_dry_run_reports_every_violation_and_stores_nothing(client: FlaskClient, tokens: dict[str, str], runtime: Runtime) -> None:
    before = row_counts(runtime)
    small = rsa.generate_private_key(65537, 1024)
    response = submit(client, tokens["requester"], csr_pem(private_key=small, ips=["10.0.0.1"]), dry_run=True, validity_days=500)
    assert response.status_code == 200
    body = response.get_json()
    assert body["verdict"] == "reject"
    assert {v["code"] for v in body["violations"]} == {"key_too_small", "ip_not_public", "validity_too_long"}
    assert row_counts(runtime) == before


def test_every_submission_writes_its_audit_events(client: FlaskClient, tokens: dict[str, str], owned: None) -> None:
    issued = submit(client, tokens["requester"], csr_pem(ips=["5.6.7.9"])).get_json()
    pending = submit(client, tokens["requester"], csr_pem(ips=["10.0.0.9"])).get_json()
    events = client.get("/api/v1/audit?per_page=500", headers=bearer(tokens["auditor"])).get_json()["items"]
    by_subject = {(e["event"], e["subject"]) for e in events}
    assert ("request:submitted", f"request:{issued['id']}") in by_subject
    assert ("certificate:issued", f"certificate:{issued['certificate']['serial_number']}") in by_subject
    assert ("request:submitted", f"request:{pending['id']}") in by_subject
    assert ("exception:opened", f"exception:{pending['exception']['id']}") in by_subject


def test_key_types(client: FlaskClient, tokens: dict[str, str]) -> None:
    for kind in ("rsa2048", "p256", "p384", "p521"):
        response = submit(client, tokens["requester"], csr_pem(private_key=key(kind)))
        assert response.status_code == 201, (kind, response.get_json())


def test_ov_policy_issues_lint_clean_ov_certificates(tmp_path, settings, clock, tokens) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from policies.config import DEFAULT_POLICY_PATH
    from service.process.app import create_app

    policy = tmp_path / "ov.toml"
    policy.write_text(DEFAULT_POLICY_PATH.read_text().replace('organization = ""', 'organization = "Example Corp"')
                      .replace('country = ""', 'country = "DE"').replace('locality = ""', 'locality = "Berlin"'))
    client = create_app(replace(settings, policy_file=policy), clock=clock).test_client()
    body = submit(client, tokens["requester"], csr_pem(cn="ov.example.com")).get_json()
    cert = x509.load_pem_x509_certificate(body["certificate"]["pem"].encode())
    assert cert.subject.rfc4514_string() == "CN=ov.example.com,O=Example Corp,L=Berlin,C=DE"
    policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier.dotted_string for p in policies] == ["2.23.140.1.2.2"]


def test_key_revoked_for_compromise_is_never_certified_again(client: FlaskClient, tokens: dict[str, str]) -> None:
    burnt = key("p256", 7)
    first = submit(client, tokens["requester"], csr_pem(cn="burnt.example.com", private_key=burnt)).get_json()
    revoked = client.post(f"/api/v1/certificates/{first['certificate']['serial_number']}/revoke",
                          json={"reason": "keyCompromise"}, headers=bearer(tokens["requester"]))
    assert revoked.status_code == 200
    again = submit(client, tokens["requester2"], csr_pem(cn="other.example.com", private_key=burnt))
    assert again.status_code == 422
    assert [v["rule"] for v in again.get_json()["error"]["violations"]] == ["key.weak.blocklist"]
