"""Approver pages: the exception queue, oldest first; one exception in full; approve or reject."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for

from service.domain import Role, ReviewStatus
from service.errors import BadRequest, CertgateError, Conflict
from service.usecases.explain import explain_address
from service.usecases.read_requests import read_request, requests_by_id
from service.usecases.read_reviews import list_reviews, read_review
from service.usecases.review import Verdict, approve, expire_due, reject
from service.web.blueprint import bp
from service.web.decoded import describe_csr
from service.web.present import paging
from service.web.session import current_person, require, runtime

READERS = (Role.APPROVER, Role.AUDITOR, Role.ADMIN)
DECIDERS = (Role.APPROVER, Role.ADMIN)
STATUSES = ("pending", "approved", "rejected", "expired", "withdrawn", "all")


@bp.route("/queue")
@require(*READERS)
def queue() -> Any:
    """The queue, oldest first (overdue exceptions are expired first, as the API does)."""
    rt, page = runtime(), paging()
    status = request.args.get("status", "pending")
    if status not in STATUSES:
        raise BadRequest(f"status is one of {', '.join(STATUSES)}")
    expire_due(rt.db, rt.clock())
    with rt.db.read() as session:
        reviews = list_reviews(session, status=status, page=page.page, per_page=page.per_page)
        requests = requests_by_id(session, [r.request_id for r, _ in reviews.items])
    return render_template("queue.html", items=reviews.items, requests=requests, status=status, statuses=STATUSES,
                           required=rt.judge.policy.reviews.approvals_required, paging=page.with_total(reviews.total))


def _exception_page(review_id: str, *, status: int = 200, message: str | None = None, error: str | None = None) -> Any:
    rt = runtime()
    with rt.db.read() as session:
        review, approvals = read_review(session, review_id)
        record = read_request(session, review.request_id, current_person())
        why = [explain_address(session, v["subject"], v["code"], rt.judge.policy.address_rule) for v in review.violations]
    policy = rt.judge.policy
    return render_template("exception.html", review=review, approvals=approvals, record=record, why=why,
                           csr=describe_csr(record.request.csr_pem), required=policy.reviews.approvals_required,
                           max_grant_days=policy.reviews.max_grant_days, message=message, error=error,
                           open=review.status == ReviewStatus.PENDING, may_decide=current_person().role in DECIDERS), status


@bp.route("/queue/<review_id>")
@require(*READERS)
def exception_page(review_id: str) -> Any:
    """One exception: who, when, why each address fails, the decoded CSR, approvals so far."""
    expire_due(runtime().db, runtime().clock())
    return _exception_page(review_id)


@bp.route("/queue/<review_id>/decide", methods=["POST"])
@require(*DECIDERS)
def decide(review_id: str) -> Any:
    """Approve (reason, optional grant days) or reject (reason); the use case enforces four eyes and N-of-M."""
    rt, person = runtime(), current_person()
    reason = request.form.get("reason", "").strip()
    try:
        if request.form.get("decision") == "reject":
            reject(rt.db, review_id, person, Verdict(reason), rt.clock())
            return redirect(url_for("console.exception_page", review_id=review_id))
        days = request.form.get("grant_days", "").strip()
        if days and not days.isdigit():
            raise BadRequest("grant days is a whole number")
        approve(rt.db, rt.judge, rt.issuer, review_id, person, Verdict(reason, int(days) if days else None), rt.clock())
    except Conflict as exc:
        # Decided by someone else meanwhile, expired, or this approver's second try: say so plainly.
        return _exception_page(review_id, status=409, message=exc.message)
    except BadRequest as exc:
        return _exception_page(review_id, status=400, error=exc.message)
    except CertgateError as exc:
        if exc.status == 404:
            raise
        return _exception_page(review_id, status=exc.status, message=exc.message)
    return redirect(url_for("console.exception_page", review_id=review_id))
