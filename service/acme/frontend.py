"""The ACME front end's plumbing: the blueprint, signed-request checks, nonces on answers, problem documents."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, cast

from josepy.jwk import JWK
from flask import Blueprint, Response, current_app, g, request
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from service.acme.jws import SignedRequest, load_key, parse, stored_key, verify
from service.acme.nonces import exchange_nonce, issue_nonce
from service.acme.problems import AcmeProblem
from service.acme.reads import account_by_id
from service.acme.validator import Validator
from service.acme.wire import Urls
from service.db.acme_models import AcmeAccount
from service.db.session import is_unavailable
from service.errors import CertgateError, ServiceUnavailable
from service.process.runtime import Runtime

log = logging.getLogger("certgate.acme")
blp = Blueprint("acme", __name__, url_prefix="/acme")
JOSE = "application/jose+json"
PROBLEM = "application/problem+json"


@dataclass(frozen=True)
class Caller:
    """A verified ACME request: its JWS, the key that signed it, and the account (kid requests)."""

    signed: SignedRequest
    key: JWK
    account: AcmeAccount | None

    @property
    def known(self) -> AcmeAccount:
        """The account of a kid request.

        Raises:
            AcmeProblem: malformed (the request was signed with a jwk).
        """
        if self.account is None:
            raise AcmeProblem("malformed", "sign this request with the account's kid")
        return self.account


def runtime() -> Runtime:
    """The process' runtime."""
    return cast(Runtime, current_app.extensions["certgate"])


def validator() -> Validator:
    """The process' validator."""
    return cast(Validator, current_app.extensions["certgate_acme_validator"])


def urls() -> Urls:
    """The edge's URLs as this client reached them (built once per request)."""
    built = g.get("acme_urls")
    if built is None:
        built = g.acme_urls = Urls(request.host_url.rstrip("/") + blp.url_prefix)  # type: ignore[operator]
    return cast(Urls, built)


def answer(body: dict[str, Any], status: int = 200, *, location: str | None = None,
           retry_after: int | None = None) -> Response:
    """A JSON answer with the headers ACME clients look for."""
    response = Response(json.dumps(body), status=status, mimetype="application/json")
    if location:
        response.headers["Location"] = location
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def signed_request(*, jwk_allowed: bool = False) -> Caller:
    """Parse and verify the JWS of this POST: media type, url, key, signature, then the nonce.

    Raises:
        AcmeProblem: malformed (415 for the media type), badSignatureAlgorithm, badPublicKey,
            unauthorized (url, deactivated account), accountDoesNotExist, badNonce.
    """
    if request.mimetype != JOSE:
        raise AcmeProblem("malformed", f"ACME requests are {JOSE}", status=415)
    signed = parse(request.get_data(cache=False))
    if signed.url != request.base_url:
        raise AcmeProblem("unauthorized", "the JWS url is not the URL this request was sent to")
    rt = runtime()
    account = None
    if signed.jwk is not None:
        if not jwk_allowed:
            raise AcmeProblem("malformed", "this request must be signed with the account's kid, not a jwk")
        key = load_key(signed.jwk, rt.judge.policy.keys)
    else:
        account = _account_of(str(signed.kid))
        key = stored_key(account.jwk)
    verify(signed, key)
    g.acme_next_nonce = exchange_nonce(rt.db, signed.nonce, rt.clock())  # one write: the answer's nonce too
    if g.acme_next_nonce is None:
        raise AcmeProblem("badNonce", "the nonce is unknown, used or expired")
    return Caller(signed, key, account)


def _account_of(kid: str) -> AcmeAccount:
    prefix = urls().accounts
    rt = runtime()
    account = None
    if kid.startswith(prefix):
        with rt.db.direct_read() as reads:
            account = account_by_id(reads, kid[len(prefix):])
    if account is None:
        raise AcmeProblem("accountDoesNotExist", "no account has this kid")
    if account.status != "valid":
        raise AcmeProblem("unauthorized", f"the account is {account.status}")
    return account


@blp.after_request
def _acme_headers(response: Response) -> Response:
    """Every ACME answer but the directory and ARI carries a fresh nonce, and links the directory."""
    if request.endpoint not in ("acme.directory", "acme.renewal_info"):
        try:
            rt = runtime()
            response.headers["Replay-Nonce"] = g.get("acme_next_nonce") or issue_nonce(rt.db, rt.clock())
        except ServiceUnavailable:
            log.error("no nonce: the database is unavailable")
        response.headers["Cache-Control"] = "no-store"
    response.headers.add("Link", f'<{urls().base}/directory>;rel="index"')
    return response


def _problem(exc: AcmeProblem) -> Response:
    response = Response(json.dumps(exc.as_body()), status=exc.status, mimetype=PROBLEM)
    if exc.location:
        response.headers["Location"] = exc.location
    if exc.retry_after is not None:
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


@blp.errorhandler(AcmeProblem)
def _acme_problem(exc: AcmeProblem) -> Response:
    return _problem(exc)


@blp.errorhandler(CertgateError)
def _certgate_error(exc: CertgateError) -> Response:
    if isinstance(exc, ServiceUnavailable):
        return _problem(AcmeProblem("serverInternal", "the database is unavailable; retry later", status=503,
                                    retry_after=5))
    log.error("ACME request failed: %s: %s", exc.code, exc.message)
    kind = "malformed" if exc.status < 500 else "serverInternal"
    return _problem(AcmeProblem(kind, exc.message, status=exc.status))


@blp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    return _problem(AcmeProblem("malformed", exc.description or exc.name, status=exc.code or 400))


@blp.errorhandler(Exception)
def _unexpected(exc: Exception) -> Response:
    if isinstance(exc, (DisconnectionError, PoolTimeout)) or isinstance(exc, DBAPIError) and is_unavailable(exc):
        log.error("database unavailable: %s", exc)
        return _problem(AcmeProblem("serverInternal", "the database is unavailable; retry later", status=503,
                                    retry_after=5))
    log.exception("unhandled error in the ACME edge")
    return _problem(AcmeProblem("serverInternal", "internal error; the event was logged"))
