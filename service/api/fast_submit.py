"""`POST /api/v1/requests` answered below Flask: the hot route of the CA without the framework's cost.

Flask's request and app contexts, URL routing, webargs and flask-smorest's wrappers and werkzeug's
request and response objects cost about a fifth of a lint-off issuance (bench/README.md,
"Session 7"). This WSGI middleware answers the route's common form itself: raw PKCS#10 or the
JSON wrapper, no query string, a Content-Length within the limit. It takes the very steps of the
Flask view, through the same functions: the bearer token and role (`service.api.auth`), the body
(`requests.submission_from`), the use case and its answer (`requests.issued_or_pending`), the
error answers (`service.api.errors.response_for`), the request id, metrics and access line
(`service.process.observability`) and the audit tree head's signature. Every other form (a query
string, a chunked or oversized body, another method or path) goes on to Flask unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from werkzeug.http import HTTP_STATUS_CODES

from service.api.auth import bearer_principal, check_role
from service.api.errors import response_for
from service.api.requests import RAW_TYPES, issued_or_pending, submission_from
from service.domain import Role
from service.errors import BadRequest
from service.process.observability import REQUEST_ID_HEADER, request_closed, request_finished, request_started
from service.process.runtime import Runtime

ROUTE = "/api/v1/requests"
_ROLES = (Role.REQUESTER, Role.ADMIN)  # as the Flask view's `@require`
_TYPES = frozenset((*RAW_TYPES, "application/json"))

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
Answer = tuple[int, list[tuple[str, str]], bytes]


class FastSubmit:
    """WSGI middleware in front of the Flask app (`app.wsgi_app = FastSubmit(app, rt, app.wsgi_app)`)."""

    def __init__(self, app: Flask, rt: Runtime, inner: WsgiApp) -> None:
        self._app = app
        self._rt = rt
        self._inner = inner
        self._limit = int(app.config["MAX_CONTENT_LENGTH"])

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        taken = self._takes(environ)
        if taken is None:
            return self._inner(environ, start_response)
        request_id, started = request_started(environ.get("HTTP_X_REQUEST_ID", ""))
        try:
            status, headers, body = self._answer(environ, *taken)
            headers.append((REQUEST_ID_HEADER, request_id))
            request_finished(ROUTE, "POST", ROUTE, status, started)
            start_response(f"{status} {HTTP_STATUS_CODES[status].upper()}", headers)
            return [body]
        finally:
            request_closed()

    def _takes(self, environ: dict[str, Any]) -> tuple[int, str] | None:
        """The body's length and media type when this is the common form of the route, else None
        (Flask answers)."""
        if environ.get("PATH_INFO") != ROUTE or environ.get("REQUEST_METHOD") != "POST" or environ.get("QUERY_STRING"):
            return None
        mimetype = str(environ.get("CONTENT_TYPE", "")).partition(";")[0].strip().lower()
        if mimetype not in _TYPES:
            return None
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            return None
        return (length, mimetype) if 0 <= length <= self._limit else None

    def _answer(self, environ: dict[str, Any], length: int, mimetype: str) -> Answer:
        """The view's steps, and Flask's after-request one: the audit tree head signed when stale."""
        rt = self._rt
        try:
            answer = self._submit(environ, length, mimetype)
        except Exception as exc:  # every failure gets the answer Flask's handlers give it
            answer = self._refusal(exc)
        if answer[0] < 500:
            try:
                rt.ledger.sign_if_stale(rt.clock())
            except Exception as exc:
                answer = self._refusal(exc)
        return answer

    def _submit(self, environ: dict[str, Any], length: int, mimetype: str) -> Answer:
        rt = self._rt
        principal = bearer_principal(rt, environ.get("HTTP_AUTHORIZATION", ""))
        check_role(principal, _ROLES)
        body = environ["wsgi.input"].read(length) if length else b""
        if len(body) != length:
            raise BadRequest(f"the body ended after {len(body)} of its {length} bytes")
        submission = submission_from(mimetype, body, validity_days=None)
        status, answer = issued_or_pending(rt, submission, principal, environ.get("HTTP_IDEMPOTENCY_KEY"))
        data = (self._app.json.dumps(answer, separators=(",", ":")) + "\n").encode()  # as `jsonify` writes it
        return status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))], data

    def _refusal(self, exc: Exception) -> Answer:
        with self._app.app_context():
            response = response_for(exc)
        return response.status_code, list(response.headers.items()), response.get_data()
