"""ACME orders: new-order, reading an order as it stands, finalize through the submit use case."""

from __future__ import annotations

from collections.abc import Callable

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, bindparam, update
from sqlmodel import Session, col, select

from policies.decision import Decision, Verdict
from service.acme.accounts import principal_of
from service.acme.identifiers import IdentifierRefused, checked_identifier, checked_ip
from service.acme.problems import AcmeProblem, subproblem
from service.acme.reads import authz_ids_of, order_by_id, request_outcome
from service.audit.log import NewEvent, append_event, append_events
from service.csr import load_csr
from service.db.acme_models import AcmeAccount, AcmeAuthorization, AcmeChallenge, AcmeOrder
from service.db.direct import DirectUnit
from service.db.models import Approval, Certificate, CertificateRequest, Review, table_of
from service.domain import RequestStatus
from service.errors import CsrSignatureInvalid, LintFailed, MalformedCsr, PolicyRejected
from service.judge import Judge
from service.issuance import Issuer
from service.db.session import Database
from service.usecases.submit import RequestRecord, Submission, submit_request

ORDER_LIFETIME = timedelta(days=7)
PROCESSING_RETRY_AFTER = 30  # seconds: an order waiting for approvers
CHALLENGE_TYPES = ("http-01", "tls-alpn-01")
MAX_IDENTIFIERS = 100
_ORDERS = table_of(AcmeOrder)
_INSERT_ORDER = _ORDERS.insert()
_INSERT_AUTHZ = table_of(AcmeAuthorization).insert()
_INSERT_CHALLENGE = table_of(AcmeChallenge).insert()
_FINALIZE = (update(_ORDERS).where(_ORDERS.c.id == bindparam("order_id"), _ORDERS.c.status == "ready")
             .values(status=bindparam("status"), request_id=bindparam("request_id"), error=bindparam("error", type_=JSON()))
             .returning(_ORDERS.c.id))


@dataclass(frozen=True)
class OrderView:
    """An order as the client sees it now: approvals and expiry are read, not waited for."""

    order: AcmeOrder
    status: str
    authz_ids: tuple[str, ...]
    error: dict[str, Any] | None
    certificate_serial: str | None


def new_order(db: Database, account: AcmeAccount, payload: dict[str, Any], replaces_ok: bool, now: datetime,
              name_refusal: Callable[[str], str | None]) -> OrderView:
    """An order with one pending authorization (and an http-01 challenge) per identifier.

    Raises:
        AcmeProblem: malformed, rejectedIdentifier / unsupportedIdentifier (with subproblems).
    """
    raw = payload.get("identifiers")
    if not isinstance(raw, list) or not raw or len(raw) > MAX_IDENTIFIERS:
        raise AcmeProblem("malformed", f"identifiers is a list of 1 to {MAX_IDENTIFIERS} identifiers")
    if "notBefore" in payload or "notAfter" in payload:
        raise AcmeProblem("malformed", "notBefore and notAfter are not supported: the policy sets the validity")
    identifiers: dict[tuple[str, str], None] = {}
    problems = []
    for item in raw:
        if not isinstance(item, dict):
            raise AcmeProblem("malformed", "each identifier is an object {type, value}")
        try:
            identifiers[(str(item.get("type")), checked_identifier(item.get("type"), item.get("value"), name_refusal))] = None
        except IdentifierRefused as refused:
            problems.append(subproblem(refused.kind, refused.detail, {"type": str(item.get("type")),
                                                                       "value": str(item.get("value"))}))
    if problems:
        raise AcmeProblem(problems[0]["type"].rsplit(":", 1)[1], "; ".join(p["detail"] for p in problems),
                          subproblems=problems)
    replaces = payload.get("replaces")
    if replaces is not None and (not isinstance(replaces, str) or not replaces_ok):
        raise AcmeProblem("malformed", "replaces does not name a certificate of this account")
    order = AcmeOrder.model_construct(
        id=str(uuid.uuid4()), account_id=account.id, status="pending", identifiers=[{"type": k, "value": v} for k, v in identifiers],
        expires_at=now + ORDER_LIFETIME, error=None, request_id=None, replaces=replaces, created_at=now)
    authz_rows: list[dict[str, Any]] = [{"id": str(uuid.uuid4()), "order_id": order.id, "kind": kind, "value": value, "status": "pending",
                   "expires_at": order.expires_at} for kind, value in identifiers]
    challenge_rows = [{"id": str(uuid.uuid4()), "authz_id": a["id"], "type": challenge_type, "token": secrets.token_urlsafe(32),
                       "status": "pending"} for a in authz_rows for challenge_type in CHALLENGE_TYPES]
    with db.direct_write() as unit:
        unit.insert(_INSERT_ORDER, order.model_dump())
        unit.insert_many(_INSERT_AUTHZ, authz_rows)
        unit.insert_many(_INSERT_CHALLENGE, challenge_rows)
        append_events(unit, [NewEvent("acme:order_created", account.requester, f"acme-order:{order.id}",
                                      {"account_id": account.id, "identifiers": order.identifiers, "replaces": replaces},
                                      now)])
    return OrderView(order, "pending", tuple(str(a["id"]) for a in sorted(authz_rows, key=lambda a: str(a["value"]))), None, None)


def owned_order(session: Session, account: AcmeAccount, order_id: str) -> AcmeOrder:
    """The account's order.

    Raises:
        AcmeProblem: 404 (no such order), unauthorized (another account's).
    """
    order = session.get(AcmeOrder, order_id)
    if order is None:
        raise AcmeProblem("malformed", "no such order", status=404)
    if order.account_id != account.id:
        raise AcmeProblem("unauthorized", "the order belongs to another account")
    return order


def read_order(db: Database, account: AcmeAccount, order_id: str, now: datetime) -> OrderView:
    """The account's order as it stands, in direct reads (clients poll it while approvers decide).

    Raises:
        AcmeProblem: 404, unauthorized.
    """
    with db.direct_read() as reads:
        order = order_by_id(reads, order_id)
        if order is None:
            raise AcmeProblem("malformed", "no such order", status=404)
        if order.account_id != account.id:
            raise AcmeProblem("unauthorized", "the order belongs to another account")
        authz_ids = authz_ids_of(reads, order_id)
        outcome = request_outcome(reads, order.request_id) if order.request_id is not None else None
    if outcome is None:
        if order.status in ("pending", "ready") and order.expires_at <= now:
            return OrderView(order, "invalid", authz_ids, _EXPIRED, None)
        return OrderView(order, order.status, authz_ids, order.error, None)
    status, serial = outcome
    if status == RequestStatus.ISSUED:
        return OrderView(order, "valid", authz_ids, None, serial)
    if status == RequestStatus.PENDING_EXCEPTION or order.status == "invalid":
        return OrderView(order, order.status, authz_ids, order.error, None)
    with db.read() as session:  # rare: a review ended without a certificate
        request = session.get(CertificateRequest, order.request_id)
        assert request is not None
        return OrderView(order, "invalid", authz_ids, _refusal(session, request), None)


_EXPIRED = {"type": "urn:ietf:params:acme:error:malformed", "detail": "the order expired"}


def _refusal(session: Session, request: CertificateRequest) -> dict[str, Any]:
    """Why a reviewed request ended without a certificate: the approver's reason, or the expiry."""
    review = session.exec(select(Review).where(Review.request_id == request.id)).first()
    reason = None
    if review is not None:
        reason = session.exec(select(Approval.reason).where(Approval.exception_id == review.id,
                                                            Approval.decision == "reject")).first()
    if reason:
        detail = f"an approver rejected the exception: {reason}"
    else:
        detail = f"the request ended {request.status} without a certificate"
    return {"type": "urn:ietf:params:acme:error:rejectedIdentifier", "detail": detail, "status": 403}


def finalize(db: Database, judge: Judge, issuer: Issuer, account: AcmeAccount, order_id: str, csr_der: bytes,
             now: datetime) -> OrderView:
    """Judge the CSR with the submit use case; the order moves in the same transaction.

    Issued: `valid`. An exception opens: `processing` until the approvers decide. A refusal:
    `invalid`, and badCSR (or rejectedIdentifier for a name) to the client.

    Raises:
        AcmeProblem: orderNotReady, badCSR, rejectedIdentifier, unauthorized, 404.
    """
    current = read_order(db, account, order_id, now)
    if current.status != "ready":
        raise AcmeProblem("orderNotReady", f"the order is {current.status}, not ready")
    try:
        csr = load_csr(csr_der)
    except (MalformedCsr, CsrSignatureInvalid) as exc:
        raise AcmeProblem("badCSR", exc.message) from exc
    named = {("dns", n) for n in (*csr.dns_names, *([csr.common_name] if csr.common_name else [])) if not _is_ip(n)}
    named |= {("ip", checked_ip(n)) for n in (*csr.ip_addresses, csr.common_name or "") if _is_ip(n)}
    if named != {(i["type"], i["value"]) for i in current.order.identifiers}:
        raise AcmeProblem("badCSR", "the CSR must name exactly the order's identifiers")

    def move_order(unit: DirectUnit, record: RequestRecord, decision: Decision) -> None:
        status = {Verdict.ISSUE: "valid", Verdict.EXCEPTION: "processing", Verdict.REJECT: "invalid"}[decision.verdict]
        error = _csr_problem(decision) if decision.verdict is Verdict.REJECT else None
        if not unit.rows(_FINALIZE, {"order_id": order_id, "status": status, "request_id": record.request.id,
                                     "error": error}):
            raise AcmeProblem("orderNotReady", "the order was finalized meanwhile")
        append_events(unit, [NewEvent("acme:order_finalized", account.requester, f"acme-order:{order_id}",
                                      {"request_id": record.request.id, "status": status,
                                       "verdict": decision.verdict.value}, now)])

    try:
        record = submit_request(db, judge, issuer, Submission(csr=csr_der, verified=csr), principal_of(account), now,
                                on_recorded=move_order)
    except PolicyRejected as exc:
        kind = "rejectedIdentifier" if exc.code == "name_not_allowed" else "badCSR"
        raise AcmeProblem(kind, f"{exc.code}: {exc.message}") from exc
    except LintFailed as exc:
        raise AcmeProblem("badCSR", f"lint_failed: {exc.message}") from exc
    # what move_order wrote (a refusal raised above): no second read of the order
    moved = current.order.model_copy(update={"request_id": record.request.id,
                                             "status": "valid" if record.certificate else "processing"})
    serial = record.certificate.serial_number if record.certificate else None
    return OrderView(moved, moved.status, current.authz_ids, None, serial)


def _csr_problem(decision: Decision) -> dict[str, Any]:
    first = decision.rejections[0]
    kind = "rejectedIdentifier" if first.code == "name_not_allowed" else "badCSR"
    return {"type": f"urn:ietf:params:acme:error:{kind}", "detail": f"{first.code}: {first.message}", "status": 400}


def _is_ip(text: str) -> bool:
    try:
        checked_ip(text)
    except IdentifierRefused:
        return False
    return True


def account_orders(session: Session, account: AcmeAccount) -> list[str]:
    """The account's order ids, newest first."""
    return list(session.exec(select(AcmeOrder.id).where(AcmeOrder.account_id == account.id)
                             .order_by(col(AcmeOrder.created_at).desc()).limit(1000)).all())
