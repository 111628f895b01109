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

from sqlalchemy import update
from sqlmodel import Session

from service.audit.canonical import event_leaf_hash
from service.db.direct import DirectUnit
from service.db.models import AuditEvent, AuditHead, table_of

_HEAD = table_of(AuditHead)
_NEXT_INDEX = update(_HEAD).where(_HEAD.c.id == 1).values(size=_HEAD.c.size + 1).returning(_HEAD.c.size)
_INSERT = table_of(AuditEvent).insert()


def append_event(
    target: Session | DirectUnit,
    *,
    event: str,
    actor: str,
    subject: str,
    data: Mapping[str, Any],
    at: datetime,
) -> int:
    """Add one event as the next leaf of the log and return its index (committed by the caller).

    `event` follows the grammar `resource:action` (`request:submitted`, `certificate:issued`).
    Direct statements, not ORM objects: this runs twice per issuance and under the log lock.
    Given a session, its pending ORM rows are flushed first, so the event follows the change.
    """
    unit = target if isinstance(target, DirectUnit) else DirectUnit.of(target)
    head = unit.first(_NEXT_INDEX)
    assert head is not None, "the audit_head row is missing (the initial migration seeds it)"
    index = int(head[0]) - 1
    leaf = event_leaf_hash(index, event, actor, at, subject, data)
    unit.insert(_INSERT, {"index": index, "event": event, "actor": actor, "at": at, "subject": subject,
                          "data": dict(data), "leaf_hash": leaf.hex()})
    return index
