"""Auditor pages: the log newest first with filters, one event's inclusion proof, and the whole-log check."""

from __future__ import annotations

from typing import Any

from flask import render_template, request

from service.audit.verify import verify_audit_log
from service.domain import Role
from service.usecases.audit_proof import check_inclusion
from service.usecases.audit_query import AuditQuery, query_audit
from service.web.blueprint import bp
from service.web.present import paging, time_arg
from service.web.session import require, runtime

READERS = (Role.AUDITOR, Role.ADMIN)


@bp.route("/audit")
@require(*READERS)
def audit_log() -> Any:
    """Events newest first, filtered by event, actor, subject and time."""
    page = paging()
    query = AuditQuery(event=request.args.get("event") or None, actor=request.args.get("actor") or None,
                       subject=request.args.get("subject") or None, after=time_arg("after"), before=time_arg("before"))
    with runtime().db.read() as session:
        rows, total = query_audit(session, query, page=page.page, per_page=page.per_page, newest_first=True)
    return render_template("audit.html", rows=rows, paging=page.with_total(total))


@bp.route("/audit/<int:index>")
@require(*READERS)
def audit_event(index: int) -> Any:
    """One event, its leaf hash, and its inclusion proof against the latest signed tree head, verified."""
    rt = runtime()
    return render_template("audit_event.html", check=check_inclusion(rt.db, rt.ledger, index, rt.clock()))


@bp.route("/audit/verify")
@require(*READERS)
def audit_verify() -> Any:
    """The same verification as `certgate audit verify`, over the whole log, with its verdict."""
    rt = runtime()
    with rt.db.read() as session:
        report = verify_audit_log(session, rt.ledger.public_key)
    return render_template("audit_verify.html", report=report)
