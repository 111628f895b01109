"""Requester pages: submit a CSR (dry-run preview first), own requests and certificates, download, revoke."""

from __future__ import annotations

from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from flask import Response, redirect, render_template, request, url_for

from policies.decision import Verdict
from service.domain import Role
from service.errors import BadRequest, CertgateError, PolicyRejected
from service.usecases.inventory import InventoryQuery, get_certificate, search_certificates
from service.usecases.read_requests import approvals_of, list_own_requests, read_request
from service.usecases.revoke import REASONS, REQUESTER_REASONS, revoke_certificate
from service.usecases.submit import Submission, dry_run, submit_request
from service.web.blueprint import bp
from service.web.decoded import certificate_names, describe_csr
from service.web.present import paging
from service.web.session import ANY_ROLE, current_person, require, runtime

SUBMITTERS = (Role.REQUESTER, Role.ADMIN)
REVOKERS = (Role.REQUESTER, Role.ADMIN)


def _submission() -> Submission:
    """The form as a submission: the pasted PEM, or the uploaded file when one was chosen.

    Raises:
        BadRequest: no CSR, or a validity that is not a whole number.
    """
    upload = request.files.get("csr_file")
    csr = upload.read() if upload is not None and upload.filename else request.form.get("csr", "").encode()
    if not csr.strip():
        raise BadRequest("paste a CSR or choose a CSR file")
    days = request.form.get("validity_days", "").strip()
    if days and not days.isdigit():
        raise BadRequest("validity is a whole number of days")
    justification = request.form.get("justification", "").strip() or None
    return Submission(csr=csr, validity_days=int(days) if days else None, justification=justification)


@bp.route("/submit", methods=["GET", "POST"])
@require(*SUBMITTERS)
def submit() -> Any:
    """The CSR form. 'Preview' shows every violation and stores nothing; 'Submit' stores and acts."""
    if request.method == "GET":
        return render_template("submit.html")
    rt, person = runtime(), current_person()
    try:
        submission = _submission()
        if request.form.get("action") != "submit":
            decision = dry_run(rt.db, rt.judge, submission, person, rt.clock())
            return render_template("submit.html", decision=decision, Verdict=Verdict)
        record = submit_request(rt.db, rt.judge, rt.issuer, submission, person, rt.clock())
    except PolicyRejected as exc:
        return render_template("submit.html", refused=exc), 422
    except CertgateError as exc:
        return render_template("submit.html", error=exc.message), exc.status
    return redirect(url_for("console.request_page", request_id=record.request.id))


@bp.route("/requests")
@require(*ANY_ROLE)
def my_requests() -> Any:
    """The signed-in person's own requests, newest first."""
    page = paging()
    with runtime().db.read() as session:
        rows, total = list_own_requests(session, current_person().name, page=page.page, per_page=page.per_page)
    return render_template("my_requests.html", rows=rows, paging=page.with_total(total))


@bp.route("/requests/<request_id>")
@require(*ANY_ROLE)
def request_page(request_id: str) -> Any:
    """One request: its decision, its exception and approvals, its certificate once issued."""
    rt = runtime()
    with rt.db.read() as session:
        record = read_request(session, request_id, current_person())
        approvals = approvals_of(session, record.review.id) if record.review is not None else []
    return render_template("request.html", record=record, approvals=approvals, csr=describe_csr(record.request.csr_pem),
                           required=rt.judge.policy.reviews.approvals_required)


@bp.route("/certificates")
@require(*ANY_ROLE)
def my_certificates() -> Any:
    """The signed-in person's own certificates, with status."""
    rt, page = runtime(), paging()
    now = rt.clock()
    with rt.db.read() as session:
        rows, total = search_certificates(session, InventoryQuery(requester=current_person().name), now=now,
                                          page=page.page, per_page=page.per_page)
    return render_template("my_certificates.html", rows=rows, now=now, paging=page.with_total(total))


@bp.route("/certificates/<serial>")
@require(*ANY_ROLE)
def certificate_page(serial: str) -> Any:
    """One certificate: names, dates, status, downloads, and revocation for its owner or an admin."""
    rt = runtime()
    with rt.db.read() as session:
        cert = get_certificate(session, serial, current_person())
    subject, names = certificate_names(cert.pem)
    return render_template("certificate.html", cert=cert, subject=subject, names=names, status=cert.status_at(rt.clock()))


@bp.route("/certificates/<serial>/download/<kind>")
@require(*ANY_ROLE)
def download(serial: str, kind: str) -> Response:
    """The certificate as PEM, as the chain PEM (leaf, issuing CA, root) or as DER."""
    rt = runtime()
    with rt.db.read() as session:
        cert = get_certificate(session, serial, current_person())
    if kind == "pem":
        body, mimetype, name = cert.pem.encode(), "application/x-pem-file", f"{cert.serial_number}.pem"
    elif kind == "chain":
        body, mimetype, name = (cert.pem + rt.ca.chain_pem).encode(), "application/pem-certificate-chain", f"{cert.serial_number}-chain.pem"
    elif kind == "der":
        body = x509.load_pem_x509_certificate(cert.pem.encode()).public_bytes(Encoding.DER)
        mimetype, name = "application/pkix-cert", f"{cert.serial_number}.cer"
    else:
        raise BadRequest("download as pem, chain or der")
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.route("/certificates/<serial>/revoke", methods=["GET", "POST"])
@require(*REVOKERS)
def revoke(serial: str) -> Any:
    """The confirmation step (GET), then the revocation itself (POST, the use case decides who may)."""
    rt, person = runtime(), current_person()
    reasons = REASONS if person.role is Role.ADMIN else REQUESTER_REASONS
    with rt.db.read() as session:
        cert = get_certificate(session, serial, person)
    if request.method == "GET":
        return render_template("revoke.html", cert=cert, reasons=reasons)
    try:
        revoke_certificate(rt.db, rt.revocation, serial, request.form.get("reason", ""), person, rt.clock())
    except CertgateError as exc:
        return render_template("revoke.html", cert=cert, reasons=reasons, error=exc.message), exc.status
    return redirect(url_for("console.certificate_page", serial=cert.serial_number))
