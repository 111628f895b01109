"""`/api/v1/certificates`: inventory search, one certificate (JSON or PEM), revocation."""

from __future__ import annotations

from typing import Any

from flask import Response, request
from flask.views import MethodView

from service.api.docs import CertgateBlueprint, errors
from service.api.auth import ANY_ROLE, current_principal, require, runtime
from service.api.presenters import certificate_body
from service.api.schemas import InventoryItemSchema, InventoryPageSchema, InventoryQuerySchema, RevokeSchema
from service.domain import Role
from service.usecases.inventory import InventoryQuery, get_certificate, search_certificates
from service.usecases.revoke import revoke_certificate

blp = CertgateBlueprint("certificates", __name__, url_prefix="/api/v1/certificates", description="Certificate inventory")
READERS = (Role.AUDITOR, Role.APPROVER, Role.ADMIN)
PEM_CHAIN = "application/pem-certificate-chain"


@blp.route("")
class Inventory(MethodView):
    @require(*READERS)
    @blp.arguments(InventoryQuerySchema, location="query")
    @blp.response(200, InventoryPageSchema)
    def get(self, query: dict[str, Any]) -> Any:
        """Search the inventory; stable order (issue time, then id), paginated."""
        rt = runtime()
        page, per_page = query.pop("page"), query.pop("per_page")
        now = rt.clock()
        with rt.db.read() as session:
            rows, total = search_certificates(session, InventoryQuery(**query), now=now, page=page, per_page=per_page)
        return {"items": [certificate_body(c, rt.roster.chain_pem(c.issuer_ca), now) for c in rows], "page": page,
                "per_page": per_page, "total": total}


@blp.route("/<string:serial>")
class CertificateBySerial(MethodView):
    @require(*ANY_ROLE)
    @errors(404)
    @blp.response(200, InventoryItemSchema)
    @blp.alt_response(200, schema={"type": "string"}, content_type=PEM_CHAIN,
                      description="JSON; the PEM chain with Accept: application/pem-certificate-chain")
    def get(self, serial: str) -> Any:
        """One certificate: JSON, or the PEM chain (leaf, issuing CA, root) when asked for."""
        rt = runtime()
        with rt.db.read() as session:
            cert = get_certificate(session, serial, current_principal())
        # JSON first: a client sending no Accept (or */*) gets JSON, as the contract says.
        if request.accept_mimetypes.best_match(["application/json", PEM_CHAIN]) == PEM_CHAIN:
            return Response(cert.pem + rt.roster.chain_pem(cert.issuer_ca), mimetype=PEM_CHAIN)
        return certificate_body(cert, rt.roster.chain_pem(cert.issuer_ca), rt.clock())


@blp.route("/<string:serial>/revoke")
class Revoke(MethodView):
    @require(Role.ADMIN, Role.REQUESTER)
    @errors(404, 409)
    @blp.arguments(RevokeSchema)
    @blp.response(200, InventoryItemSchema)
    def post(self, body: dict[str, Any], serial: str) -> Any:
        """Revoke (admin: any certificate; requester: their own, keyCompromise or superseded)."""
        rt = runtime()
        cert = revoke_certificate(rt.db, rt.revocation, serial, body["reason"], current_principal(), rt.clock())
        return certificate_body(cert, rt.roster.chain_pem(cert.issuer_ca), rt.clock())
