"""Every ACME error certgate answers, each as an RFC 8555 problem document that changes nothing it should not."""

from __future__ import annotations

import json
from typing import Any

import josepy
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from flask.testing import FlaskClient
from josepy import jwa
from josepy.jwk import JWKRSA
from werkzeug.test import TestResponse

from service.process.runtime import Runtime
from tests.acme.client import BASE, JOSE, AcmeTestClient, Responder, new_key
from tests.acme.conftest import NAME
from tests.acme.orders import b64, csr_der, finalize, identifiers, ready_order, weak_rsa_key

NS = "urn:ietf:params:acme:error:"


def problem(response: TestResponse, kind: str, status: int = 400) -> dict[str, Any]:
    """Assert a problem document of `kind` with `status`, and a fresh nonce beside it."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["type"] == NS + kind, body
    assert response.headers.get("Replay-Nonce")
    return dict(body)


def raw_jws(header: dict[str, Any], payload: bytes, key: josepy.JWK, alg: jwa.JWASignature = jwa.ES256) -> bytes:
    """A flattened JWS with exactly `header` protected (for headers the acme package would not build)."""
    protected = b64(json.dumps(header).encode())
    body = b64(payload)
    signature = alg.sign(key.key, f"{protected}.{body}".encode())
    return json.dumps({"protected": protected, "payload": body, "signature": b64(signature)}).encode()


def test_a_reused_nonce_is_bad_nonce(account: AcmeTestClient) -> None:
    nonce = account.nonce()
    assert account.post(f"/acct/{account.kid.rsplit('/', 1)[1]}", nonce=nonce).status_code == 200  # type: ignore[union-attr]
    problem(account.post(f"/acct/{account.kid.rsplit('/', 1)[1]}", nonce=nonce), "badNonce")  # type: ignore[union-attr]


def test_a_made_up_nonce_is_bad_nonce(account: AcmeTestClient) -> None:
    problem(account.post("/new-order", {"identifiers": identifiers(NAME)}, nonce="AAAAAAAAAAAAAAAAAAAAAA"), "badNonce")


def test_a_url_other_than_the_target_is_unauthorized(account: AcmeTestClient, http: FlaskClient) -> None:
    body = account.jws(BASE + "/new-order", {"identifiers": identifiers(NAME)})
    problem(http.post("/acme/key-change", data=body, headers=JOSE), "unauthorized", 403)


def test_another_media_type_is_malformed_415(http: FlaskClient) -> None:
    problem(http.post("/acme/new-order", data=b"{}", headers={"Content-Type": "application/json"}), "malformed", 415)


@pytest.mark.parametrize("body", [b"", b"[]", b"{}", b'{"protected": "", "payload": "", "signature": "", "header": {}}',
                                  b'{"protected": "!!", "payload": "", "signature": ""}'])
def test_a_body_that_is_no_flattened_jws_is_malformed(http: FlaskClient, body: bytes) -> None:
    problem(http.post("/acme/new-account", data=body, headers=JOSE), "malformed")


def test_hmac_and_none_are_bad_signature_algorithms(http: FlaskClient) -> None:
    client = AcmeTestClient(http)
    for alg in ("HS256", "none", "EdDSA"):
        header = {"alg": alg, "nonce": client.nonce(), "url": BASE + "/new-account", "jwk": client.key.public_key().to_partial_json()}
        body = raw_jws(header, b"{}", client.key)
        found = problem(http.post("/acme/new-account", data=body, headers=JOSE), "badSignatureAlgorithm")
        assert "ES256" in found["algorithms"]


def test_an_alg_that_does_not_fit_the_key_is_bad_signature_algorithm(http: FlaskClient) -> None:
    client = AcmeTestClient(http)
    header = {"alg": "ES384", "nonce": client.nonce(), "url": BASE + "/new-account",
              "jwk": client.key.public_key().to_partial_json()}
    problem(http.post("/acme/new-account", data=raw_jws(header, b"{}", client.key), headers=JOSE), "badSignatureAlgorithm")


def test_kid_and_jwk_together_are_malformed(account: AcmeTestClient, http: FlaskClient) -> None:
    header = {"alg": "ES256", "nonce": account.nonce(), "url": BASE + "/new-order", "kid": account.kid,
              "jwk": account.key.public_key().to_partial_json()}
    problem(http.post("/acme/new-order", data=raw_jws(header, b"{}", account.key), headers=JOSE), "malformed")


def test_a_wrong_signature_is_malformed(account: AcmeTestClient, http: FlaskClient) -> None:
    header = {"alg": "ES256", "nonce": account.nonce(), "url": BASE + "/new-order", "kid": account.kid}
    problem(http.post("/acme/new-order", data=raw_jws(header, b"{}", new_key()), headers=JOSE), "malformed")


def test_new_account_without_eab_is_external_account_required(http: FlaskClient) -> None:
    problem(AcmeTestClient(http).register(None), "externalAccountRequired")


def test_a_wrong_eab_key_is_unauthorized(http: FlaskClient, eab_key: tuple[str, str]) -> None:
    problem(AcmeTestClient(http).register((eab_key[0], b64(b"\x00" * 32))), "unauthorized", 403)
    problem(AcmeTestClient(http).register(("no-such-kid", eab_key[1])), "unauthorized", 403)


def test_an_eab_key_binds_one_account_only(http: FlaskClient, eab_key: tuple[str, str]) -> None:
    assert AcmeTestClient(http).register(eab_key).status_code == 201
    problem(AcmeTestClient(http).register(eab_key), "unauthorized", 403)


def test_a_1024_bit_account_key_is_bad_public_key(http: FlaskClient, eab_key: tuple[str, str]) -> None:
    weak = AcmeTestClient(http, JWKRSA(key=rsa.generate_private_key(public_exponent=65537, key_size=1024)))
    body = weak.jws(BASE + "/new-account", {"termsOfServiceAgreed": True}, use_jwk=True, alg=jwa.RS256)
    problem(http.post("/acme/new-account", data=body, headers=JOSE), "badPublicKey")


def test_only_return_existing_without_an_account_is_account_does_not_exist(http: FlaskClient) -> None:
    client = AcmeTestClient(http)
    problem(client.post("/new-account", {"onlyReturnExisting": True}, use_jwk=True), "accountDoesNotExist")


def test_an_unknown_kid_is_account_does_not_exist(http: FlaskClient) -> None:
    client = AcmeTestClient(http)
    client.kid = BASE + "/acct/nobody"
    problem(client.post("/new-order", {"identifiers": identifiers(NAME)}), "accountDoesNotExist")


def test_a_deactivated_account_is_unauthorized(account: AcmeTestClient) -> None:
    assert account.post(str(account.kid), {"status": "deactivated"}).get_json()["status"] == "deactivated"
    problem(account.post("/new-order", {"identifiers": identifiers(NAME)}), "unauthorized", 403)


@pytest.mark.parametrize(("kind", "value", "expected"), [
    ("dns", "localhost", "rejectedIdentifier"), ("dns", "intranet.corp", "rejectedIdentifier"),
    ("dns", "printer", "rejectedIdentifier"), ("dns", "*.example.com", "rejectedIdentifier"),
    ("dns", "1.2.3.4", "rejectedIdentifier"), ("dns", "bad_name.example.com", "rejectedIdentifier"),
    ("ip", "1.2.3.999", "rejectedIdentifier"), ("email", "a@example.com", "unsupportedIdentifier"),
])
def test_refused_identifiers_name_each_one_in_a_subproblem(account: AcmeTestClient, kind: str, value: str,
                                                          expected: str) -> None:
    body = problem(account.post("/new-order", {"identifiers": [{"type": "dns", "value": NAME},
                                                               {"type": kind, "value": value}]}), expected)
    assert body["subproblems"] == [{"type": NS + expected, "detail": body["subproblems"][0]["detail"],
                                    "identifier": {"type": kind, "value": value}}]


def test_finalize_before_validation_is_order_not_ready(account: AcmeTestClient) -> None:
    order = account.post("/new-order", {"identifiers": identifiers(NAME)}).get_json()
    problem(finalize(account, order, csr_der(NAME)), "orderNotReady", 403)


def test_a_csr_naming_other_names_is_bad_csr(account: AcmeTestClient, http01: Responder) -> None:
    _, order = ready_order(account, http01, NAME)
    problem(finalize(account, order, csr_der(NAME, "other.example.com")), "badCSR")
    problem(finalize(account, order, b"not a csr"), "badCSR")
    assert account.post(order["finalize"].removesuffix("/finalize")).get_json()["status"] == "ready"


def test_a_1024_bit_csr_key_is_bad_csr_with_the_policy_message(account: AcmeTestClient, http01: Responder) -> None:
    _, order = ready_order(account, http01, NAME)
    body = problem(finalize(account, order, csr_der(NAME, key=weak_rsa_key())), "badCSR")
    assert "key_too_small" in body["detail"]
    assert account.post(order["finalize"].removesuffix("/finalize")).get_json()["status"] == "invalid"


def test_another_accounts_order_is_unauthorized(account: AcmeTestClient, http: FlaskClient,
                                                acme_runtime: Runtime) -> None:
    from service.acme.eab import create_eab_key

    with acme_runtime.db.write() as session:
        made = create_eab_key(session, requester="bob", actor="test", now=acme_runtime.clock())
    bob = AcmeTestClient(http)
    bob.register((made.kid, made.hmac_key))
    order = account.post("/new-order", {"identifiers": identifiers(NAME)})
    problem(bob.post(order.headers["Location"]), "unauthorized", 403)


def test_an_unknown_reason_is_bad_revocation_reason(account: AcmeTestClient) -> None:
    problem(account.post("/revoke-cert", {"certificate": b64(b"x"), "reason": 7}), "badRevocationReason")


def test_key_change_to_a_key_in_use_is_a_conflict(account: AcmeTestClient, http: FlaskClient,
                                                  acme_runtime: Runtime) -> None:
    from service.acme.eab import create_eab_key

    with acme_runtime.db.write() as session:
        made = create_eab_key(session, requester="bob", actor="test", now=acme_runtime.clock())
    bob = AcmeTestClient(http)
    bob.register((made.kid, made.hmac_key))
    url = BASE + "/key-change"
    inner = json.loads(raw_jws({"alg": "ES256", "url": url, "jwk": bob.key.public_key().to_partial_json()},
                               json.dumps({"account": account.kid,
                                           "oldKey": account.key.public_key().to_partial_json()}).encode(), bob.key))
    response = account.post("/key-change", json.dumps(inner).encode())
    problem(response, "malformed", 409)
    assert response.headers["Location"] == bob.kid


def test_key_change_rolls_the_account_over(account: AcmeTestClient) -> None:
    fresh = new_key()
    url = BASE + "/key-change"
    inner = raw_jws({"alg": "ES256", "url": url, "jwk": fresh.public_key().to_partial_json()},
                    json.dumps({"account": account.kid, "oldKey": account.key.public_key().to_partial_json()}).encode(),
                    fresh)
    assert account.post("/key-change", inner).status_code == 200
    problem(account.post("/new-order", {"identifiers": identifiers(NAME)}), "malformed")  # the old key no longer signs
    account.key = fresh
    assert account.post("/new-order", {"identifiers": identifiers(NAME)}).status_code == 201
