"""ACME orders end to end through the Flask app: validation, finalize through the judge, exceptions, ARI, revoke."""

from __future__ import annotations

from datetime import timedelta

from cryptography import x509
from flask.testing import FlaskClient

from service.acme.validator import Validator
from service.domain import Role
from service.process.runtime import Runtime
from service.tokens import Principal
from service.usecases.review import Verdict, approve, reject
from tests.acme.client import AcmeTestClient, Responder, wait_for
from tests.acme.conftest import NAME, OWNED_IP, UNOWNED_IP
from tests.acme.orders import b64, csr_der, finalize, ready_order
from tests.clock import FakeClock

APPROVER = Principal("carol", Role.APPROVER)


def _pending_review(rt: Runtime) -> str:
    from sqlmodel import select

    from service.db.models import Review

    with rt.db.read() as session:
        review = session.exec(select(Review).where(Review.status == "pending")).one()
        return review.id


def test_an_owned_name_and_ip_are_issued_and_downloaded(account: AcmeTestClient, http01: Responder,
                                                        acme_runtime: Runtime) -> None:
    order_url, order = ready_order(account, http01, NAME, OWNED_IP)
    assert order["status"] == "ready"
    done = finalize(account, order, csr_der(NAME, OWNED_IP))
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["status"] == "valid"
    chain = account.post(done.get_json()["certificate"])
    assert chain.status_code == 200 and chain.mimetype == "application/pem-certificate-chain"
    leaf = x509.load_pem_x509_certificates(chain.data)[0]
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [NAME]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == [OWNED_IP]
    with acme_runtime.db.read() as session:
        from sqlmodel import select

        from service.db.models import AuditEvent, Certificate

        cert = session.exec(select(Certificate)).one()
        events = [e.event for e in session.exec(select(AuditEvent)).all()]
    assert cert.requester == "alice"  # the account acts as its EAB requester
    for event in ("acme:account_created", "acme:order_created", "acme:challenge_validated", "request:submitted",
                  "certificate:issued", "acme:order_finalized"):
        assert event in events


def test_validation_records_what_it_fetched_and_a_wrong_answer_invalidates(account: AcmeTestClient,
                                                                           http01: Responder,
                                                                           acme_runtime: Runtime) -> None:
    created = account.post("/new-order", {"identifiers": [{"type": "dns", "value": NAME}]}).get_json()
    authz = account.post(created["authorizations"][0]).get_json()
    challenge = authz["challenges"][0]
    http01.answers[challenge["token"]] = "not-the-key-authorization"
    account.post(challenge["url"], {})
    assert wait_for(account, created["authorizations"][0], ("valid", "invalid"))["status"] == "invalid"
    body = account.post(challenge["url"]).get_json()
    assert body["error"]["type"] == "urn:ietf:params:acme:error:incorrectResponse"
    with acme_runtime.db.read() as session:
        from sqlmodel import select

        from service.db.acme_models import AcmeChallenge

        row = session.exec(select(AcmeChallenge).where(AcmeChallenge.type == "http-01")).one()
    assert row.record and row.record[0]["address"] == "127.0.0.1" and row.record[0]["status"] == 200
    assert account.post(created["finalize"].rsplit("/finalize", 1)[0]).get_json()["status"] == "invalid"


def test_a_validator_of_another_process_finishes_a_claimed_challenge(account: AcmeTestClient, http01: Responder,
                                                                     acme_runtime: Runtime, clock: FakeClock) -> None:
    created = account.post("/new-order", {"identifiers": [{"type": "ip", "value": OWNED_IP}]}).get_json()
    authz = account.post(created["authorizations"][0]).get_json()
    token = authz["challenges"][0]["token"]
    http01.answers[token] = account.key_authorization(token)
    account.post(authz["challenges"][0]["url"], {})
    other = Validator(acme_runtime.db, port=http01.port, hosts={OWNED_IP: "127.0.0.1"}, clock=clock)
    other.run_once()  # may find it already claimed by the app's thread: then that thread finishes it
    assert wait_for(account, created["authorizations"][0], ("valid", "invalid"))["status"] == "valid"


def test_an_unowned_ip_waits_for_approvers_and_a_rerun_is_covered_by_the_grant(
        account: AcmeTestClient, http01: Responder, acme_runtime: Runtime, clock: FakeClock) -> None:
    _, order = ready_order(account, http01, NAME, UNOWNED_IP)
    waiting = finalize(account, order, csr_der(NAME, UNOWNED_IP))
    assert waiting.get_json()["status"] == "processing"
    assert int(waiting.headers["Retry-After"]) > 0
    rt = acme_runtime
    approve(rt.db, rt.judge, rt.issuer, _pending_review(rt), APPROVER, Verdict("lab address", grant_days=30), clock())
    polled = account.post(waiting.headers["Location"]).get_json()
    assert polled["status"] == "valid" and "certificate" in polled
    # The client gave up polling and runs again with a new key: the grant covers alice and the IP.
    _, again = ready_order(account, http01, NAME, UNOWNED_IP)
    assert finalize(account, again, csr_der(NAME, UNOWNED_IP)).get_json()["status"] == "valid"


def test_a_rejection_reaches_the_client_with_the_reason(account: AcmeTestClient, http01: Responder,
                                                        acme_runtime: Runtime, clock: FakeClock) -> None:
    _, order = ready_order(account, http01, UNOWNED_IP)
    waiting = finalize(account, order, csr_der(UNOWNED_IP))
    reject(acme_runtime.db, _pending_review(acme_runtime), APPROVER, Verdict("not our address"), clock())
    polled = account.post(waiting.headers["Location"]).get_json()
    assert polled["status"] == "invalid"
    assert "not our address" in polled["error"]["detail"]


def test_ari_window_is_the_last_third_then_now_after_revocation(account: AcmeTestClient, http01: Responder,
                                                                acme_runtime: Runtime, http: FlaskClient) -> None:
    _, order = ready_order(account, http01, NAME)
    done = finalize(account, order, csr_der(NAME)).get_json()
    leaf = x509.load_pem_x509_certificates(account.post(done["certificate"]).data)[0]
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    assert aki is not None
    serial = leaf.serial_number.to_bytes((leaf.serial_number.bit_length() + 8) // 8, "big")
    cert_id = f"{b64(aki)}.{b64(serial)}"
    window = http.get(f"/acme/renewal-info/{cert_id}").get_json()["suggestedWindow"]
    life = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert window["start"] >= (leaf.not_valid_before_utc + life * 2 / 3 - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert window["end"] <= leaf.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    from cryptography.hazmat.primitives.serialization import Encoding

    revoked = account.post("/revoke-cert", {"certificate": b64(leaf.public_bytes(Encoding.DER)), "reason": 4})
    assert revoked.status_code == 200
    now_window = http.get(f"/acme/renewal-info/{cert_id}").get_json()["suggestedWindow"]
    assert now_window["end"] <= acme_runtime.clock().strftime("%Y-%m-%dT%H:%M:%SZ")
    again = account.post("/revoke-cert", {"certificate": b64(leaf.public_bytes(Encoding.DER)), "reason": 4})
    assert again.get_json()["type"] == "urn:ietf:params:acme:error:alreadyRevoked"


def test_revoke_cert_signed_with_the_certificate_key(account: AcmeTestClient, http01: Responder, http: FlaskClient,
                                                     acme_runtime: Runtime) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding
    from josepy.jwk import JWKEC

    from tests.acme.client import new_key

    key = ec.generate_private_key(ec.SECP256R1())
    _, order = ready_order(account, http01, NAME)
    done = finalize(account, order, csr_der(NAME, key=key)).get_json()
    der = x509.load_pem_x509_certificates(account.post(done["certificate"]).data)[0].public_bytes(Encoding.DER)
    stranger = AcmeTestClient(http, new_key())
    refused = stranger.post("/revoke-cert", {"certificate": b64(der), "reason": 1}, use_jwk=True)
    assert refused.status_code == 403 and refused.get_json()["type"].endswith(":unauthorized")
    holder = AcmeTestClient(http, JWKEC(key=key))
    assert holder.post("/revoke-cert", {"certificate": b64(der), "reason": 1}, use_jwk=True).status_code == 200
    with acme_runtime.db.read() as session:
        from sqlmodel import select

        from service.db.models import Certificate, CompromisedKey

        assert session.exec(select(Certificate)).one().revocation_reason == "keyCompromise"
        assert session.exec(select(CompromisedKey)).one() is not None
