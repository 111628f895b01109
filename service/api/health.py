"""`/healthz`: is the database reachable and the CA key usable?"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from service.api.auth import runtime
from service.api.errors import error_response

blp = Blueprint("health", __name__)


@blp.get("/healthz")
def healthz() -> Response:
    """200 when the database answers and the issuing key signs; 503 otherwise."""
    rt = runtime()
    try:
        with rt.db.read() as session:
            session.exec(text("SELECT 1"))  # type: ignore[call-overload]
    except Exception:  # noqa: BLE001 - any failure means unhealthy; the reason goes to the log
        return error_response(503, "unavailable", "the database is unreachable")
    if not rt.ca.can_sign():
        return error_response(503, "unavailable", "the issuing CA key cannot sign")
    return jsonify({"status": "ok", "database": "ok", "ca": "ok"})
