"""Appending to the audit log inside the caller's transaction.

Every writer locks the single `audit_head` row to take the next index, so indexes are gap-free
and ordered even with many workers; the lock is held until the caller's transaction commits,
which is also what makes the state change and its event land together or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from service.audit.canonical import event_leaf_hash
from service.db.models import AuditEvent, AuditHead


def append_event(
    session: Session,
    *,
    event: str,
    actor: str,
    subject: str,
    data: Mapping[str, Any],
    at: datetime,
) -> AuditEvent:
    """Add one event as the next leaf of the log (flushed, committed by the caller).

    `event` follows the grammar `resource:action` (`request:submitted`, `certificate:issued`).
    """
    head = session.exec(select(AuditHead).where(AuditHead.id == 1).with_for_update()).one_or_none()
    if head is None:
        head = AuditHead(id=1, size=0)
        session.add(head)
    index = head.size
    head.size = index + 1
    leaf = event_leaf_hash(index, event, actor, at, subject, data)
    row = AuditEvent(index=index, event=event, actor=actor, at=at, subject=subject, data=dict(data), leaf_hash=leaf.hex())
    session.add(row)
    session.add(head)
    session.flush()
    return row
