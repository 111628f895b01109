"""Reading the exception queue."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, func, select

from service.db.models import Approval, Review
from service.errors import NotFound


@dataclass(frozen=True)
class ReviewPage:
    """One page of exceptions with their approvals."""

    items: list[tuple[Review, list[Approval]]]
    total: int


def list_reviews(session: Session, *, status: str, page: int, per_page: int) -> ReviewPage:
    """The queue filtered by status ('all' for every one), oldest first."""
    query = select(Review)
    count = select(func.count()).select_from(Review)
    if status != "all":
        query, count = query.where(Review.status == status), count.where(Review.status == status)
    rows = session.exec(query.order_by(col(Review.created_at), col(Review.id)).offset((page - 1) * per_page).limit(per_page)).all()
    approvals: dict[str, list[Approval]] = {r.id: [] for r in rows}
    if rows:
        for a in session.exec(select(Approval).where(col(Approval.exception_id).in_(list(approvals))).order_by(col(Approval.at), col(Approval.id))).all():
            approvals[a.exception_id].append(a)
    return ReviewPage([(r, approvals[r.id]) for r in rows], session.exec(count).one())


def read_review(session: Session, review_id: str) -> tuple[Review, list[Approval]]:
    """One exception with its approvals.

    Raises:
        NotFound: no such exception.
    """
    review = session.get(Review, review_id)
    if review is None:
        raise NotFound(f"no exception {review_id}")
    approvals = session.exec(select(Approval).where(Approval.exception_id == review_id).order_by(col(Approval.at), col(Approval.id))).all()
    return review, list(approvals)


def count_pending(session: Session) -> int:
    """How many exceptions wait for a decision."""
    return session.exec(select(func.count()).select_from(Review).where(Review.status == "pending")).one()
