"""Appending to the audit log inside the caller's transaction.

Every writer takes the next indexes by advancing the single `audit_head` row
(`UPDATE … RETURNING`): PostgreSQL row-locks it until the transaction ends and SQLite holds its
write lock anyway, so indexes are gap-free and commit in order even with many workers and
instances. The same transaction carries the state change, so both land or neither does.
A transaction that records several events (an issuance: submitted, then issued) appends them
together: one head update for all of them and one batched insert (an issuance: one `UPDATE`
and one `executemany` instead of two of each).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, bindparam, update
from sqlmodel import Session

from service.audit.canonical import event_leaf_hash
from service.db.direct import DirectUnit
from service.db.models import AuditEvent, AuditHead, table_of

_HEAD = table_of(AuditHead)
_ADVANCE = (update(_HEAD).where(_HEAD.c.id == 1).values(size=_HEAD.c.size + bindparam("count", type_=BigInteger))
            .returning(_HEAD.c.size))
_INSERT = table_of(AuditEvent).insert()


@dataclass(frozen=True)
class NewEvent:
    """An event to append: `event` follows the grammar `resource:action` (`request:submitted`)."""

    event: str
    actor: str
    subject: str
    data: Mapping[str, Any]
    at: datetime


def append_events(target: Session | DirectUnit, events: Sequence[NewEvent]) -> list[int]:
    """Add `events`, in order, as the next leaves of the log; their indexes (committed by the caller).

    Direct statements, not ORM objects: this runs on every submission and under the log lock.
    Given a session, its pending ORM rows are flushed first, so the events follow the change.
    """
    if not events:
        return []
    unit = target if isinstance(target, DirectUnit) else DirectUnit.of(target)
    head = unit.first(_ADVANCE, {"count": len(events)})
    assert head is not None, "the audit_head row is missing (the initial migration seeds it)"
    first = int(head[0]) - len(events)
    rows: list[dict[str, Any]] = []
    for index, e in enumerate(events, start=first):
        leaf = event_leaf_hash(index, e.event, e.actor, e.at, e.subject, e.data)
        rows.append({"index": index, "event": e.event, "actor": e.actor, "at": e.at, "subject": e.subject,
                     "data": dict(e.data), "leaf_hash": leaf.hex()})
    unit.insert_many(_INSERT, rows)
    return list(range(first, first + len(events)))


def append_event(
    target: Session | DirectUnit,
    *,
    event: str,
    actor: str,
    subject: str,
    data: Mapping[str, Any],
    at: datetime,
) -> int:
    """Add one event as the next leaf of the log and return its index (see `append_events`)."""
    return append_events(target, [NewEvent(event, actor, subject, data, at)])[0]
