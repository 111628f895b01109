"""`/healthz`: is the database reachable and the CA key usable?"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from service.api.auth import runtime
from service.api.errors import RETRY_AFTER_SECONDS, error_response

blp = Blueprint("health", __name__)
log = logging.getLogger("certgate.health")


@blp.get("/healthz")
def healthz() -> Response:
    """200 when the database answers and the issuing key signs; 503 (with Retry-After) otherwise."""
    rt = runtime()
    try:
        with rt.db.read() as session:
            session.exec(text("SELECT 1"))  # type: ignore[call-overload]
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy; the reason goes to the log
        log.warning("health check: the database is unreachable: %s", exc.__cause__ or exc)
        return _unhealthy("the database is unreachable")
    if not rt.ca.can_sign():
        log.error("health check: the issuing CA key cannot sign")
        return _unhealthy("the issuing CA key cannot sign")
    return jsonify({"status": "ok", "database": "ok", "ca": "ok"})


def _unhealthy(message: str) -> Response:
    response = error_response(503, "unavailable", message)
    response.headers["Retry-After"] = RETRY_AFTER_SECONDS
    return response
