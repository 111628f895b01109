"""`/api/v1/domains`: the owned-domain registry (admin) and name lookups (any role)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from policies.name_rules import dns_findings
from policies.names import InvalidName, normalise_name
from service.api.auth import ANY_ROLE, current_principal, require, runtime
from service.api.docs import CertgateBlueprint, errors
from service.api.domain_schemas import (DomainCreateSchema, DomainPageQuerySchema, DomainPageSchema, DomainSchema,
                                        NameLookupQuerySchema, NameLookupSchema)
from service.db.models import OwnedDomain
from service.domain import Role
from service.errors import BadRequest
from service.usecases.domains import add_domain, list_domains, remove_domain

blp = CertgateBlueprint("domains", __name__, url_prefix="/api/v1/domains", description="Owned-domain registry")


def domain_body(row: OwnedDomain) -> dict[str, Any]:
    """The contract's domain item."""
    return {"id": row.id, "domain": row.domain, "owner": row.owner, "created_at": row.created_at,
            "created_by": row.created_by}


@blp.route("")
class Domains(MethodView):
    @require(Role.ADMIN)
    @blp.arguments(DomainPageQuerySchema, location="query")
    @blp.response(200, DomainPageSchema)
    def get(self, query: dict[str, Any]) -> Any:
        """The registry, paginated (optionally one owner's domains)."""
        with runtime().db.read() as session:
            rows, total = list_domains(session, page=query["page"], per_page=query["per_page"], owner=query.get("owner"))
        return {"items": [domain_body(r) for r in rows], "page": query["page"], "per_page": query["per_page"], "total": total}

    @require(Role.ADMIN)
    @errors(409, 422)
    @blp.arguments(DomainCreateSchema)
    @blp.response(201, DomainSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Register an owned domain (never a public suffix or an internal name)."""
        rt = runtime()
        with rt.db.write() as session:
            row = add_domain(session, domain=body["domain"], owner=body["owner"], actor=current_principal().name,
                             now=rt.clock(), suffixes=rt.judge.suffixes, allow_internal=rt.judge.policy.names.allow_internal)
        return domain_body(row)


@blp.route("/<int:domain_id>")
class DomainById(MethodView):
    @require(Role.ADMIN)
    @errors(404)
    @blp.response(204)
    def delete(self, domain_id: int) -> None:
        """Remove an owned domain."""
        rt = runtime()
        with rt.db.write() as session:
            remove_domain(session, domain_id=domain_id, actor=current_principal().name, now=rt.clock())


@blp.route("/lookup")
class NameLookup(MethodView):
    @require(*ANY_ROLE)
    @blp.arguments(NameLookupQuerySchema, location="query")
    @blp.response(200, NameLookupSchema)
    def get(self, query: dict[str, Any]) -> Any:
        """How the policy sees one DNS name: allowed at all? owned, and by which domain?"""
        rt = runtime()
        try:
            name = normalise_name(query["name"])
        except InvalidName as exc:
            raise BadRequest(str(exc)) from exc
        index = rt.domains.current()
        match = index.lookup(name)
        findings = dns_findings([name], index, rt.judge.suffixes, allow_internal=rt.judge.policy.names.allow_internal)
        return {"name": name, "owned": match is not None, "verdict": findings[0].code if findings else "ok",
                "domain": None if match is None else {"id": match.domain_id, "domain": match.domain, "owner": match.owner},
                "message": findings[0].message if findings else None}
