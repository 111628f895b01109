"""Querying the audit log: by event type, actor, subject and time, oldest first."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast
from sqlmodel import Session, col, func, or_, select

from service.db.models import AuditEvent


@dataclass(frozen=True)
class AuditQuery:
    """Filters; `event` may end in `:` or `*` for a whole resource (`exception:`); `subject`
    matches the event's subject exactly or, for a request id, serial or IP, the same value
    inside the event's data."""

    event: str | None = None
    actor: str | None = None
    subject: str | None = None
    after: datetime | None = None
    before: datetime | None = None


def _conditions(q: AuditQuery) -> list[Any]:
    conds: list[Any] = []
    if q.event:
        if q.event.endswith((":", "*")):
            conds.append(col(AuditEvent.event).startswith(q.event.rstrip("*")))
        else:
            conds.append(AuditEvent.event == q.event)
    if q.actor:
        conds.append(AuditEvent.actor == q.actor)
    if q.subject:
        value = q.subject.split(":", 1)[1] if ":" in q.subject and not _looks_like_ipv6(q.subject) else q.subject
        conds.append(or_(
            AuditEvent.subject == q.subject,
            col(AuditEvent.subject).endswith(":" + value),
            col(AuditEvent.subject) == value,
            _data_mentions(value),
        ))
    if q.after:
        conds.append(AuditEvent.at >= q.after)
    if q.before:
        conds.append(AuditEvent.at < q.before)
    return conds


def _looks_like_ipv6(text: str) -> bool:
    return text.count(":") >= 2


def _data_mentions(value: str) -> Any:
    """Events whose data names `value` (a request id, serial or IP) as a JSON string."""
    return cast(AuditEvent.data, String).contains(f'"{value}"')


def query_audit(session: Session, q: AuditQuery, *, page: int, per_page: int,
                newest_first: bool = False) -> tuple[list[AuditEvent], int]:
    """One page of matching events, oldest first (or newest first), and the total."""
    conds = _conditions(q)
    order = col(AuditEvent.index).desc() if newest_first else col(AuditEvent.index)
    rows = session.exec(select(AuditEvent).where(*conds).order_by(order)
                        .offset((page - 1) * per_page).limit(per_page)).all()
    return list(rows), session.exec(select(func.count()).select_from(AuditEvent).where(*conds)).one()


def iter_audit(session: Session, q: AuditQuery) -> Iterator[AuditEvent]:
    """Every matching event, oldest first, streamed (for exports)."""
    yield from session.exec(select(AuditEvent).where(*_conditions(q)).order_by(col(AuditEvent.index)).execution_options(yield_per=2000))


def event_body(row: AuditEvent) -> dict[str, Any]:
    """The contract's audit entry."""
    return {"index": row.index, "leaf_hash": row.leaf_hash, "event": row.event, "actor": row.actor,
            "at": row.at.isoformat().replace("+00:00", "Z"), "subject": row.subject, "data": row.data}
