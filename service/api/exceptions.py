"""`/api/v1/exceptions`: the review queue and its decisions."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask.views import MethodView

from service.api.docs import CertgateBlueprint, errors
from service.api.auth import current_principal, require, runtime
from service.api.presenters import exception_body
from service.api.request_answer import answer_for
from service.api.requests import IDEMPOTENCY_DOC, IDEMPOTENCY_HEADER
from service.api.schemas import DecideSchema, ExceptionPageSchema, ExceptionQuerySchema, ExceptionSchema, RequestSchema
from service.domain import Role
from service.usecases.read_reviews import list_reviews, read_review
from service.usecases.review import Verdict, approve, expire_due, reject, withdraw

blp = CertgateBlueprint("exceptions", __name__, url_prefix="/api/v1/exceptions", description="Exception (review) queue")
READERS = (Role.APPROVER, Role.AUDITOR, Role.ADMIN)
DECIDERS = (Role.APPROVER, Role.ADMIN)


@blp.route("")
class ExceptionList(MethodView):
    @require(*READERS)
    @blp.arguments(ExceptionQuerySchema, location="query")
    @blp.response(200, ExceptionPageSchema)
    def get(self, query: dict[str, Any]) -> Any:
        """The queue, oldest first (overdue exceptions are expired first)."""
        rt = runtime()
        expire_due(rt.db, rt.clock())
        with rt.db.read() as session:
            page = list_reviews(session, status=query["status"], page=query["page"], per_page=query["per_page"])
        required = rt.judge.policy.reviews.approvals_required
        return {"items": [exception_body(r, a, required) for r, a in page.items], "page": query["page"],
                "per_page": query["per_page"], "total": page.total}


@blp.route("/<string:review_id>")
class ExceptionById(MethodView):
    @require(*READERS)
    @errors(404)
    @blp.response(200, ExceptionSchema)
    def get(self, review_id: str) -> Any:
        """One exception with its approvals."""
        rt = runtime()
        with rt.db.read() as session:
            review, approvals = read_review(session, review_id)
        return exception_body(review, approvals, rt.judge.policy.reviews.approvals_required)


@blp.route("/<string:review_id>/approve")
class Approve(MethodView):
    @require(*DECIDERS)
    @errors(400, 404, 409, 422)
    @blp.doc(parameters=[IDEMPOTENCY_DOC])
    @blp.arguments(DecideSchema)
    @blp.response(200, RequestSchema)
    def post(self, body: dict[str, Any], review_id: str) -> Any:
        """Approve; the certificate is issued once enough approvers agree."""
        rt = runtime()
        verdict = Verdict(body["reason"], body.get("grant_days"))
        record = approve(rt.db, rt.judge, rt.issuer, review_id, current_principal(), verdict, rt.clock(),
                         idempotency_key=request.headers.get(IDEMPOTENCY_HEADER))
        return jsonify(answer_for(rt, record))


@blp.route("/<string:review_id>/reject")
class Reject(MethodView):
    @require(*DECIDERS)
    @errors(400, 404, 409, 422)
    @blp.doc(parameters=[IDEMPOTENCY_DOC])
    @blp.arguments(DecideSchema)
    @blp.response(200, RequestSchema)
    def post(self, body: dict[str, Any], review_id: str) -> Any:
        """Reject; the request ends without a certificate."""
        rt = runtime()
        record = reject(rt.db, review_id, current_principal(), Verdict(body["reason"]), rt.clock(),
                        idempotency_key=request.headers.get(IDEMPOTENCY_HEADER))
        return jsonify(answer_for(rt, record))


@blp.route("/<string:review_id>/withdraw")
class Withdraw(MethodView):
    @require(Role.REQUESTER, Role.ADMIN)
    @errors(404, 409)
    @blp.response(200, RequestSchema)
    def post(self, review_id: str) -> Any:
        """The requester withdraws their own pending request."""
        rt = runtime()
        return jsonify(answer_for(rt, withdraw(rt.db, review_id, current_principal(), rt.clock())))
