"""`/api/v1/ranges`: the owned-range registry (admin) and lookups (any role)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from policies.addresses import is_globally_reachable, ip_subject_for_owner, parse_ip, special_block
from policies.public_ip import not_public_reason
from service.api.docs import CertgateBlueprint, errors
from service.api.auth import ANY_ROLE, current_principal, require, runtime
from service.api.schemas import LookupQuerySchema, LookupSchema, PageQuerySchema, RangeCreateSchema, RangePageSchema, RangeSchema
from service.db.models import OwnedRange
from service.domain import Role
from service.errors import BadRequest
from service.usecases.ranges import add_range, list_ranges, remove_range

blp = CertgateBlueprint("ranges", __name__, url_prefix="/api/v1/ranges", description="Owned-range registry")


def range_body(row: OwnedRange) -> dict[str, Any]:
    """The contract's range item."""
    return {"id": row.id, "cidr": row.cidr, "owner": row.owner, "created_at": row.created_at, "created_by": row.created_by}


@blp.route("")
class Ranges(MethodView):
    @require(Role.ADMIN)
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, RangePageSchema)
    def get(self, query: dict[str, Any]) -> Any:
        """The registry, paginated."""
        with runtime().db.read() as session:
            rows, total = list_ranges(session, page=query["page"], per_page=query["per_page"])
        return {"items": [range_body(r) for r in rows], "page": query["page"], "per_page": query["per_page"], "total": total}

    @require(Role.ADMIN)
    @errors(409)
    @blp.arguments(RangeCreateSchema)
    @blp.response(201, RangeSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Register an owned CIDR."""
        rt = runtime()
        with rt.db.write() as session:
            row = add_range(session, cidr=body["cidr"], owner=body["owner"], actor=current_principal().name, now=rt.clock())
        rt.ranges.refresh()
        return range_body(row)


@blp.route("/<int:range_id>")
class RangeById(MethodView):
    @require(Role.ADMIN)
    @errors(404)
    @blp.response(204)
    def delete(self, range_id: int) -> None:
        """Remove an owned range."""
        rt = runtime()
        with rt.db.write() as session:
            remove_range(session, range_id=range_id, actor=current_principal().name, now=rt.clock())
        rt.ranges.refresh()


@blp.route("/lookup")
class Lookup(MethodView):
    @require(*ANY_ROLE)
    @blp.arguments(LookupQuerySchema, location="query")
    @blp.response(200, LookupSchema)
    def get(self, query: dict[str, Any]) -> Any:
        """How the policy sees one IP: public? owned, and by which (most specific) range?"""
        ip = parse_ip(query["ip"].strip())
        if ip is None:
            raise BadRequest(f"{query['ip']!r} is not an IP address")
        block = special_block(ip)
        rt = runtime()
        with rt.db.direct_read() as reads:
            rt.judge.heads.catch_up(reads)  # the same read-your-writes as a submission
        reason = not_public_reason(ip, rt.judge.policy.address_rule)
        match = rt.ranges.lookup(ip_subject_for_owner(ip))
        verdict = "ip_not_public" if reason is not None else ("ok" if match else "ip_not_owned")
        return {
            "ip": ip.text,
            "globally_reachable": is_globally_reachable(ip),
            "public": reason is None,
            "reason": reason,
            "special_purpose_block": None if block is None else {"name": block.name, "cidr": block.cidr, "rfc": block.rfc},
            "owned": match is not None,
            "range": None if match is None else {"id": match.range_id, "cidr": match.cidr, "owner": match.owner},
            "verdict": verdict,
        }
