"""The one place that maps failures to HTTP answers in the contract's error format."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from service.db.session import is_unavailable
from service.errors import CertgateError, LintFailed, ServiceUnavailable, TokenUnavailable

log = logging.getLogger("certgate.api")

RETRY_AFTER_SECONDS = "5"  # what a 503 tells clients: the database is back within seconds, usually

# Werkzeug's own refusals, in the contract's words.
HTTP_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "bad_request",
    429: "too_many_requests",
    503: "unavailable",
}


def error_response(status: int, code: str, message: str, violations: list[dict[str, Any]] | None = None) -> Response:
    """A JSON error answer: `{"error": {"code", "message", "violations"?}}`."""
    error: dict[str, Any] = {"code": code, "message": message}
    if violations is not None:
        error["violations"] = violations
    response = jsonify({"error": error})
    response.status_code = status
    return response


def _certgate_error(exc: CertgateError) -> Response:
    if isinstance(exc, TokenUnavailable):
        log.error("CA token unavailable: %s", exc.message)
    elif isinstance(exc, ServiceUnavailable):
        log.error("database unavailable: %s", exc.__cause__)
    elif exc.status >= 500:
        log.error("%s: %s", exc.code, exc.message)
    response = jsonify(exc.as_body())
    response.status_code = 422 if isinstance(exc, LintFailed) else exc.status
    if isinstance(exc, ServiceUnavailable):
        response.headers["Retry-After"] = RETRY_AFTER_SECONDS
    return response


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    message = exc.description or exc.name
    violations = None
    data = getattr(exc, "data", None)  # webargs/flask-smorest validation messages
    if isinstance(data, dict) and "messages" in data:
        message = "the request does not match the schema"
        violations = _flatten(data["messages"])
        status = 400
    response = error_response(status, HTTP_CODES.get(status, "error"), message, violations)
    if status == 405 and exc.get_response().headers.get("Allow"):
        response.headers["Allow"] = exc.get_response().headers["Allow"]
    return response


def _flatten(messages: Any, prefix: str = "") -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = str(key) if key not in ("json", "query", "form", "headers") or prefix else ""
            out += _flatten(value, f"{prefix}.{name}".strip(".") if name else prefix)
    else:
        for message in messages if isinstance(messages, list) else [messages]:
            out.append({"rule": "schema", "code": "bad_request", "message": str(message), "subject": prefix})
    return out


def _database_error(exc: Exception) -> Response:
    """A database failure that escaped a unit of work: 503 when it is an outage, else a 500."""
    if isinstance(exc, (DisconnectionError, PoolTimeout)) or isinstance(exc, DBAPIError) and is_unavailable(exc):
        unavailable = ServiceUnavailable("the database is unavailable; retry later")
        unavailable.__cause__ = exc
        return _certgate_error(unavailable)
    return _unexpected(exc)


def _unexpected(exc: Exception) -> Response:
    log.exception("unhandled error")
    return error_response(500, "internal_error", "internal error; the event was logged")


# Each failure's handler, most specific first: Flask picks among them by the exception's class, and
# `response_for` by the first that matches (the classes but `Exception` do not overlap).
_HANDLERS: tuple[tuple[type[Exception], Callable[[Any], Response]], ...] = (
    (CertgateError, _certgate_error),
    (HTTPException, _http_error),
    (DBAPIError, _database_error),
    (DisconnectionError, _database_error),
    (PoolTimeout, _database_error),
    (Exception, _unexpected),
)


def response_for(exc: Exception) -> Response:
    """The answer for an exception raised below Flask's dispatch (`service.api.fast_submit`): the
    handler Flask would pick for it (call inside an app context)."""
    handler = next(handler for kind, handler in _HANDLERS if isinstance(exc, kind))
    return handler(exc)


def register_error_handlers(app: Flask) -> None:
    """Install the handlers; call after flask-smorest's `Api`, whose own handler this replaces."""
    for kind, handler in _HANDLERS:
        app.register_error_handler(kind, handler)
