"""`/api/v1/audit`: query and verify the log; tree heads, proofs and the key for anyone."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from flask import Response
from flask.views import MethodView

from service.api.docs import CertgateBlueprint
from service.api.auth import require, runtime
from service.api.schemas import (AuditPageSchema, AuditQuerySchema, AuditVerifySchema, ConsistencyQuerySchema,
                                 ConsistencySchema, InclusionQuerySchema, InclusionSchema, TreeHeadSchema)
from service.audit.verify import verify_audit_log
from service.domain import Role
from service.usecases.audit_query import AuditQuery, event_body, query_audit

blp = CertgateBlueprint("audit", __name__, url_prefix="/api/v1/audit", description="Tamper-evident audit log")
READERS = (Role.AUDITOR, Role.ADMIN)


@blp.route("")
class AuditEvents(MethodView):
    @require(*READERS)
    @blp.arguments(AuditQuerySchema, location="query")
    @blp.response(200, AuditPageSchema)
    def get(self, query: dict[str, Any]) -> Any:
        """Events, oldest first, filtered by event, actor, subject and time."""
        page, per_page = query.pop("page"), query.pop("per_page")
        with runtime().db.read() as session:
            rows, total = query_audit(session, AuditQuery(**query), page=page, per_page=per_page)
        return {"items": [event_body(r) for r in rows], "page": page, "per_page": per_page, "total": total}


@blp.route("/verify")
class Verify(MethodView):
    @require(*READERS)
    @blp.response(200, AuditVerifySchema)
    def get(self) -> Any:
        """Recompute the whole log and check it against the signed heads and the inventory."""
        rt = runtime()
        with rt.db.read() as session:
            return verify_audit_log(session, rt.ledger.public_key).as_json()


@blp.route("/sth")
class Sth(MethodView):
    @blp.response(200, TreeHeadSchema)
    def get(self) -> Any:
        """The newest signed tree head (a new one is signed when the log has grown)."""
        rt = runtime()
        return rt.ledger.tree_head(rt.clock()).as_json()


@blp.route("/key")
class Key(MethodView):
    @blp.response(200, {"type": "string"}, content_type="application/x-pem-file")
    def get(self) -> Response:
        """The log's public key, PEM (SubjectPublicKeyInfo)."""
        pem = runtime().ledger.public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        return Response(pem, mimetype="application/x-pem-file")


@blp.route("/proof/inclusion")
class Inclusion(MethodView):
    @blp.arguments(InclusionQuerySchema, location="query")
    @blp.response(200, InclusionSchema)
    def get(self, query: dict[str, Any]) -> Any:
        """RFC 6962 inclusion proof."""
        return runtime().ledger.inclusion_proof(query["index"], query["tree_size"])


@blp.route("/proof/consistency")
class Consistency(MethodView):
    @blp.arguments(ConsistencyQuerySchema, location="query")
    @blp.response(200, ConsistencySchema)
    def get(self, query: dict[str, Any]) -> Any:
        """RFC 6962 consistency proof."""
        return runtime().ledger.consistency_proof(query["first"], query["second"])
