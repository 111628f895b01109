"""Appending events: consecutive gap-free indexes in order, one batch or one at a time, on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from service.audit.canonical import event_leaf_hash
from service.audit.log import NewEvent, append_event, append_events
from service.db.models import AuditEvent, AuditHead
from service.db.session import Database

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
_EVENTS = AuditEvent.__table__


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


def _log(db: Database) -> list[tuple[int, str, str]]:
    with db.read() as session:
        rows = session.execute(select(_EVENTS.c.index, _EVENTS.c.event, _EVENTS.c.leaf_hash).order_by(_EVENTS.c.index))
        return [(int(i), e, h) for i, e, h in rows]


def _head(db: Database) -> int:
    with db.read() as session:
        head = session.get(AuditHead, 1)
        assert head is not None
        return head.size


def test_a_batch_takes_the_next_indexes_in_order_with_their_leaf_hashes(db: Database) -> None:
    start = _head(db)
    events = [NewEvent(f"test:e{n}", "alice", f"s:{n}", {"n": n}, NOW) for n in range(3)]
    with db.direct_write() as unit:
        assert append_event(unit, event="test:single", actor="bob", subject="s", data={}, at=NOW) == start
        assert append_events(unit, events) == [start + 1, start + 2, start + 3]
    log = _log(db)[-4:]
    assert [(i, e) for i, e, _ in log] == [(start, "test:single"), (start + 1, "test:e0"), (start + 2, "test:e1"),
                                           (start + 3, "test:e2")]
    for (index, _, leaf), event in zip(log[1:], events):
        assert leaf == event_leaf_hash(index, event.event, event.actor, event.at, event.subject, event.data).hex()
    assert _head(db) == start + 4


def test_a_batch_through_an_orm_session_follows_its_pending_rows(db: Database) -> None:
    start = _head(db)
    with db.write() as session:
        assert append_events(session, [NewEvent("test:a", "alice", "s", {}, NOW), NewEvent("test:b", "alice", "s", {}, NOW)]) \
            == [start, start + 1]
    assert [e for _, e, _ in _log(db)[-2:]] == ["test:a", "test:b"]


def test_an_empty_batch_writes_nothing(db: Database) -> None:
    start, before = _head(db), _log(db)
    with db.direct_write() as unit:
        assert append_events(unit, []) == []
    assert _head(db) == start and _log(db) == before


def test_a_rolled_back_batch_leaves_no_gap(db: Database) -> None:
    start = _head(db)
    with pytest.raises(RuntimeError), db.direct_write() as unit:
        append_events(unit, [NewEvent("test:lost", "alice", "s", {}, NOW)] * 2)
        raise RuntimeError("the state change failed")
    with db.direct_write() as unit:
        assert append_events(unit, [NewEvent("test:kept", "alice", "s", {}, NOW)]) == [start]
    assert "test:lost" not in [e for _, e, _ in _log(db)]
