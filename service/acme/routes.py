"""The ACME resources (RFC 8555 §7): each view checks the JWS, calls one use case, answers."""

from __future__ import annotations

from collections.abc import Callable

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from flask import Flask, Response, request

from service.acme.accounts import NewAccount, change_key, create_account, principal_of, update_account
from service.acme.challenges import current_challenge, owned_challenge, read_authz, respond
from service.acme.eab import issuer_key_id
from service.acme.frontend import Caller, answer, blp, runtime, signed_request, urls, validator
from service.acme.jws import b64decode, public_key
from service.acme.orders import PROCESSING_RETRY_AFTER, OrderView, account_orders, finalize, new_order, read_order
from service.acme.problems import AcmeProblem
from service.acme.reads import certificate_download
from service.acme.renewal import cert_id_serial, reason_name, renewal_window, revocation_target
from service.acme.validator import Validator
from service.acme.wire import account_body, authz_body, challenge_body, order_body, timestamp
from service.db.models import Certificate
from service.domain import Role
from service.errors import Conflict, Forbidden
from service.process.runtime import Runtime
from service.tokens import Principal
from service.usecases.revoke import REQUESTER_REASONS, revoke_certificate


@blp.get("/directory")
def directory() -> Response:
    """The directory: every resource, ARI's renewalInfo, and whether EAB is required."""
    policy = runtime().judge.policy
    return answer({**urls().directory(), "meta": {"externalAccountRequired": policy.acme_require_eab}})


@blp.route("/new-nonce", methods=["HEAD", "GET"])
def new_nonce() -> Response:
    """A nonce in the Replay-Nonce header (added on the way out)."""
    return Response(status=200 if request.method == "HEAD" else 204)


@blp.post("/new-account")
def new_account() -> Response:
    """Create (with EAB) or find the account of the signing key."""
    caller = signed_request(jwk_allowed=True)
    if caller.account is not None:
        raise AcmeProblem("malformed", "new-account is signed with a jwk, not a kid")
    rt = runtime()
    account, created = create_account(rt.db, NewAccount(caller.key, caller.signed.payload_json(), request.base_url),
                                      require_eab=rt.judge.policy.acme_require_eab, now=rt.clock())
    return answer(account_body(urls(), account), 201 if created else 200, location=urls().account(account.id))


def _own_account(caller: Caller, account_id: str) -> None:
    if caller.known.id != account_id:
        raise AcmeProblem("unauthorized", "the kid is another account")


@blp.post("/acct/<account_id>")
def account(account_id: str) -> Response:
    """Read the account, change its contact, or deactivate it."""
    caller = signed_request()
    _own_account(caller, account_id)
    current = caller.known
    if not caller.signed.is_post_as_get:
        rt = runtime()
        current = update_account(rt.db, account_id, caller.signed.payload_json(), rt.clock())
    return answer(account_body(urls(), current), location=urls().account(account_id))


@blp.post("/acct/<account_id>/orders")
def orders(account_id: str) -> Response:
    """The account's orders."""
    caller = signed_request()
    _own_account(caller, account_id)
    with runtime().db.read() as session:
        ids = account_orders(session, caller.known)
    return answer({"orders": [urls().order(i) for i in ids]})


@blp.post("/key-change")
def key_change() -> Response:
    """Roll the account key over (the inner JWS is signed by the new key)."""
    caller = signed_request()
    rt = runtime()
    changed = change_key(rt.db, caller.known, caller.signed, urls().accounts, rt.judge.policy.keys, rt.clock())
    return answer(account_body(urls(), changed), location=urls().account(changed.id))


def _order_answer(view: OrderView, status: int = 200) -> Response:
    retry = PROCESSING_RETRY_AFTER if view.status == "processing" else None
    return answer(order_body(urls(), view), status, location=urls().order(view.order.id), retry_after=retry)


@blp.post("/new-order")
def order_new() -> Response:
    """A new order for dns and ip identifiers."""
    caller = signed_request()
    rt = runtime()
    payload = caller.signed.payload_json()
    replaces_ok = True
    if isinstance(payload.get("replaces"), str):
        with rt.db.read() as session:
            replaced = cert_id_serial(session, payload["replaces"], _issuer_key_id_of(rt))
            replaces_ok = replaced.requester == caller.known.requester
    return _order_answer(new_order(rt.db, caller.known, payload, replaces_ok, rt.clock(), rt.judge.name_refusal), 201)


@blp.post("/order/<order_id>")
def order(order_id: str) -> Response:
    """An order as it stands (POST-as-GET)."""
    caller = signed_request()
    rt = runtime()
    return _order_answer(read_order(rt.db, caller.known, order_id, rt.clock()))


@blp.post("/order/<order_id>/finalize")
def order_finalize(order_id: str) -> Response:
    """Hand the CSR to the same judge as the API: issued, processing (an exception) or refused."""
    caller = signed_request()
    rt = runtime()
    csr = b64decode(caller.signed.payload_json().get("csr"), "csr")
    return _order_answer(finalize(rt.db, rt.judge, rt.issuer, caller.known, order_id, csr, rt.clock()))


@blp.post("/authz/<authz_id>")
def authz(authz_id: str) -> Response:
    """An authorization and its challenges (POST-as-GET)."""
    caller = signed_request()
    rt = runtime()
    return answer(authz_body(urls(), read_authz(rt.db, caller.known, authz_id, rt.clock())))


@blp.post("/chall/<challenge_id>")
def challenge(challenge_id: str) -> Response:
    """`{}` starts validation (by a validator thread, off this request) and waits a bounded time for
    it; POST-as-GET reads the challenge."""
    caller = signed_request()
    rt = runtime()
    if caller.signed.is_post_as_get:
        with rt.db.read() as session:
            found, authz_id = owned_challenge(session, caller.known, challenge_id)
    else:
        caller.signed.payload_json()
        waits = rt.settings.acme_challenge_wait_seconds > 0
        with validator().expecting(challenge_id) as expected:
            found, authz_id, claimed = respond(rt.db, caller.known, challenge_id, rt.clock(),
                                               claim=waits and validator().idle())
            validator().kick(expected, claimed)
            if found.status == "processing" and waits:
                expected.finished.wait(rt.settings.acme_challenge_wait_seconds)  # bounded: then as it stands
                recorded = expected.recorded if expected.finished.is_set() else None
                found = found.model_copy(update=recorded) if recorded else current_challenge(rt.db, challenge_id)
    response = answer(challenge_body(urls(), found))
    response.headers.add("Link", f'<{urls().authz(authz_id)}>;rel="up"')
    return response


@blp.post("/cert/<serial>")
def certificate(serial: str) -> Response:
    """The certificate and its chain, PEM (POST-as-GET by an account of the same requester)."""
    caller = signed_request()
    rt = runtime()
    with rt.db.direct_read() as reads:
        found = certificate_download(reads, serial)
    if found is None or found[1] != caller.known.requester:
        raise AcmeProblem("malformed", "no such certificate", status=404)
    pem, _, issuer_ca = found
    return Response(pem + rt.roster.get(issuer_ca).chain_pem, mimetype="application/pem-certificate-chain")


@blp.post("/revoke-cert")
def revoke_cert() -> Response:
    """Revoke through the revocation use case: by the owning requester's account, or with the certificate's key."""
    caller = signed_request(jwk_allowed=True)
    rt = runtime()
    payload = caller.signed.payload_json()
    reason = reason_name(payload.get("reason"))
    with rt.db.read() as session:
        cert, spki = revocation_target(session, b64decode(payload.get("certificate"), "certificate"))
    if caller.account is not None:
        if caller.account.requester != cert.requester:
            raise AcmeProblem("unauthorized", "the certificate belongs to another requester")
        actor = principal_of(caller.account)
    else:
        if public_key(caller.key).public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo) != spki:
            raise AcmeProblem("unauthorized", "sign with the account's kid or with the certificate's key")
        actor = Principal(cert.requester, Role.REQUESTER)
    try:
        revoke_certificate(rt.db, rt.revocation, cert.serial_number, reason, actor, rt.clock())
    except Conflict as exc:
        raise AcmeProblem("alreadyRevoked", exc.message) from exc
    except Forbidden as exc:
        raise AcmeProblem("badRevocationReason", f"revoke with {' or '.join(REQUESTER_REASONS)}: {exc.message}") from exc
    return Response(status=200)


@blp.get("/renewal-info/<cert_id>")
def renewal_info(cert_id: str) -> Response:
    """ARI: when to renew this certificate (RFC 9773)."""
    rt = runtime()
    key_id_of = _issuer_key_id_of(rt)
    with rt.db.read() as session:
        cert = cert_id_serial(session, cert_id, key_id_of)
        window = renewal_window(session, cert, key_id_of(cert), rt.clock())
    body: dict[str, object] = {"suggestedWindow": {"start": timestamp(window.start), "end": timestamp(window.end)}}
    if window.explanation:
        body["explanation"] = window.explanation
    return answer(body, retry_after=rt.settings.acme_ari_retry_seconds)


def _issuer_key_id_of(rt: Runtime) -> Callable[[Certificate], str]:
    """The ARI key id (the issuing CA's key identifier) of the CA generation that issued a certificate."""
    return lambda cert: issuer_key_id(rt.roster.get(cert.issuer_ca).issuing_cert)


def install(app: Flask, rt: Runtime) -> None:
    """Mount the ACME edge and give the process its validator."""
    app.extensions["certgate_acme_validator"] = Validator(
        rt.db, port=rt.settings.acme_validation_port, hosts=rt.settings.acme_validation_hosts, clock=rt.clock,
        tls_port=rt.settings.acme_tls_alpn_port)
    app.register_blueprint(blp)
