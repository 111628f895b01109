"""Reading requests with what hangs off them, under the contract's visibility rules."""

from __future__ import annotations

from sqlmodel import Session, col, func, select

from service.db.models import Approval, Certificate, CertificateRequest, Review

from service.domain import Role
from service.errors import Forbidden, NotFound
from service.tokens import Principal
from service.usecases.submit import RequestRecord

READ_ANY = (Role.APPROVER, Role.AUDITOR, Role.ADMIN)


def read_request(session: Session, request_id: str, reader: Principal) -> RequestRecord:
    """A request, its certificate and its exception, if `reader` may see it.

    Raises:
        NotFound: no such request.
        Forbidden: a requester asking for somebody else's request.
    """
    request = session.get(CertificateRequest, request_id)
    if request is None:
        raise NotFound(f"no request {request_id}")
    if reader.role not in READ_ANY and request.requester != reader.name:
        raise Forbidden("requesters read only their own requests")
    cert = session.exec(select(Certificate).where(Certificate.request_id == request_id)).first()
    review = session.exec(select(Review).where(Review.request_id == request_id)).first()
    return RequestRecord(request, certificate=cert, review=review)


def approvals_of(session: Session, review_id: str) -> list[Approval]:
    """Every approval and rejection recorded on an exception, oldest first."""
    return list(session.exec(select(Approval).where(Approval.exception_id == review_id).order_by(col(Approval.at), col(Approval.id))).all())


def list_own_requests(session: Session, requester: str, *, page: int, per_page: int) -> tuple[list[CertificateRequest], int]:
    """One page of a requester's own requests, newest first, and the total."""
    mine = CertificateRequest.requester == requester
    rows = session.exec(select(CertificateRequest).where(mine).order_by(col(CertificateRequest.created_at).desc(),
                                                                         col(CertificateRequest.id))
                        .offset((page - 1) * per_page).limit(per_page)).all()
    return list(rows), session.exec(select(func.count()).select_from(CertificateRequest).where(mine)).one()


def requests_by_id(session: Session, ids: list[str]) -> dict[str, CertificateRequest]:
    """The requests behind a page of exceptions, in one query."""
    if not ids:
        return {}
    return {r.id: r for r in session.exec(select(CertificateRequest).where(col(CertificateRequest.id).in_(ids))).all()}
