"""The certificate inventory for auditors, approvers and admins: the API's filters, pages, CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from flask import Response, render_template, request, stream_with_context

from service.domain import Role
from service.errors import BadRequest
from service.usecases.inventory import InventoryQuery, iter_certificates, search_certificates
from service.web.blueprint import bp
from service.web.present import paging, time_arg
from service.web.session import require, runtime

READERS = (Role.AUDITOR, Role.APPROVER, Role.ADMIN)
CSV_FIELDS = ["serial_number", "status", "requester", "common_name", "not_before", "not_after", "issued_at",
              "revoked_at", "revocation_reason", "sha256_fingerprint", "request_id"]


def _query() -> InventoryQuery:
    """The filter form as the use case's query.

    Raises:
        BadRequest: a day count or time that does not parse.
    """
    args = request.args
    days = args.get("expiring_within_days", "").strip()
    if days and not days.isdigit():
        raise BadRequest("expiring within: a whole number of days")
    return InventoryQuery(ip=args.get("ip") or None, dns=args.get("dns") or None, serial=args.get("serial") or None,
                          status=args.get("status") or None, requester=args.get("requester") or None,
                          issued_after=time_arg("issued_after"), issued_before=time_arg("issued_before"),
                          expiring_within_days=int(days) if days else None)


@bp.route("/inventory")
@require(*READERS)
def inventory() -> Any:
    """Search the inventory (stable order: issue time, then id)."""
    rt, page = runtime(), paging()
    now = rt.clock()
    with rt.db.read() as session:
        rows, total = search_certificates(session, _query(), now=now, page=page.page, per_page=page.per_page)
    return render_template("inventory.html", rows=rows, now=now, paging=page.with_total(total))


def _cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@bp.route("/inventory.csv")
@require(*READERS)
def inventory_csv() -> Response:
    """Every certificate matching the filters, as CSV, streamed."""
    rt = runtime()
    query, now = _query(), rt.clock()

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_FIELDS)
        with rt.db.read() as session:
            for item in iter_certificates(session, query, now=now):
                writer.writerow([_cell(item[k]) for k in CSV_FIELDS])
                if buffer.tell() > 65536:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
        yield buffer.getvalue()

    return Response(stream_with_context(rows()), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="certificates.csv"'})
