"""Appending to the audit log inside the caller's transaction.

Every writer takes the next index by incrementing the single `audit_head` row
(`UPDATE … RETURNING`): PostgreSQL row-locks it until the transaction ends and SQLite holds its
write lock anyway, so indexes are gap-free and commit in order even with many workers and
instances. The same transaction carries the state change, so both land or neither does.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from service.audit.canonical import event_leaf_hash
from service.db.models import AuditEvent

_NEXT_INDEX = text("UPDATE audit_head SET size = size + 1 WHERE id = 1 RETURNING size")
_INSERT = AuditEvent.__table__.insert()  # built once: constructing `.values()` per call costs ~0.5 ms


def append_event(
    session: Session,
    *,
    event: str,
    actor: str,
    subject: str,
    data: Mapping[str, Any],
    at: datetime,
) -> int:
    """Add one event as the next leaf of the log and return its index (committed by the caller).

    `event` follows the grammar `resource:action` (`request:submitted`, `certificate:issued`).
    Core statements, not ORM objects: this runs twice per issuance and under the log lock.
    """
    session.flush()  # pending ORM rows first, so the event follows the change it records
    index = int(session.execute(_NEXT_INDEX).scalar_one()) - 1
    leaf = event_leaf_hash(index, event, actor, at, subject, data)
    session.execute(_INSERT, {"index": index, "event": event, "actor": actor, "at": at, "subject": subject,
                              "data": dict(data), "leaf_hash": leaf.hex()})
    return index
