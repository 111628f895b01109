"""Direct statements store and read values exactly as the ORM does, in one transaction."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import bindparam, event, select
from sqlmodel import col

from service.db.direct import DirectUnit
from service.db.models import AuditEvent, CertificateRequest
from service.domain import RequestStatus
from service.db.session import Database
from service.errors import ServiceUnavailable

NOW = datetime(2026, 11, 29, 12, 30, 45, 123456, tzinfo=UTC)
_REQUESTS = CertificateRequest.__table__
_EVENTS = AuditEvent.__table__
_EVENTS_BY_ACTOR = select(_EVENTS.c.index, _EVENTS.c.data, _EVENTS.c.at).where(_EVENTS.c.actor == bindparam("who"))


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


def _request_values(request_id: str) -> dict[str, object]:
    return CertificateRequest.model_construct(
        id=request_id, requester="alice", status=RequestStatus.ISSUED, csr_pem="PEM", csr_sha256="ab" * 32,
        common_name="a.example.com", named_ips=["5.6.7.8", "2001:db8::1"],
        violations=[{"rule": "ip", "code": "ip_not_owned", "message": "m", "subject": "5.6.7.8"}], waived=[],
        policy_version="sha256:x", validity_days=90, client_auth=True, justification=None, grant_id=None,
        created_at=NOW, decided_at=NOW + timedelta(seconds=1),
    ).model_dump()


def test_a_row_written_directly_reads_back_through_the_orm_unchanged(db: Database) -> None:
    with db.direct_write() as unit:
        unit.insert(_REQUESTS.insert(), _request_values("r1"))
    with db.read() as session:
        row = session.get(CertificateRequest, "r1")
    assert row is not None
    assert row.model_dump() == _request_values("r1")
    assert row.created_at == NOW and row.created_at.tzinfo is not None


def test_a_row_written_by_the_orm_reads_back_directly_with_its_types(db: Database) -> None:
    with db.write() as session:
        session.add(AuditEvent(index=10**9, event="test:event", actor="alice", at=NOW, subject="s",
                               data={"ips": ["10.0.0.5"], "n": 1}, leaf_hash="00" * 32))
    with db.direct_read() as reads:
        assert reads.rows(_EVENTS_BY_ACTOR, {"who": "alice"}) == [(10**9, {"ips": ["10.0.0.5"], "n": 1}, NOW)]
        assert reads.first(_EVENTS_BY_ACTOR, {"who": "bob"}) is None


def test_a_failed_direct_write_leaves_nothing(db: Database) -> None:
    with pytest.raises(RuntimeError), db.direct_write() as unit:
        unit.insert(_REQUESTS.insert(), _request_values("r2"))
        raise RuntimeError("after the insert")
    with db.read() as session:
        assert session.exec(select(CertificateRequest).where(col(CertificateRequest.id) == "r2")).first() is None


def test_a_direct_view_of_a_session_shares_its_transaction(db: Database) -> None:
    with pytest.raises(RuntimeError), db.write() as session:
        DirectUnit.of(session).insert(_REQUESTS.insert(), _request_values("r3"))
        assert session.get(CertificateRequest, "r3") is not None  # visible inside the transaction
        raise RuntimeError("roll back")
    with db.read() as session:
        assert session.get(CertificateRequest, "r3") is None


def test_an_unreachable_database_is_service_unavailable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    gone = Database(f"sqlite:///{tmp_path}/missing/dir/x.db")
    with pytest.raises(ServiceUnavailable), gone.direct_read() as reads:
        reads.rows(_EVENTS_BY_ACTOR, {"who": "alice"})


def test_a_sqlite_file_hands_out_the_connection_returned_last(tmp_path: Path) -> None:
    """A request's reads and write on one connection: its page cache is not outdated by a sibling's commit."""
    db = Database(f"sqlite:///{tmp_path / 'lifo.db'}")
    used: list[int] = []
    event.listen(db.engine, "checkout", lambda dbapi, _record, _proxy: used.append(id(dbapi)))
    with db.direct_read(), db.direct_read():  # two connections in the pool now
        pass
    for _ in range(3):
        with db.direct_read():
            pass
        with db.direct_write():
            pass
    assert len(set(used[:2])) == 2 and len(set(used[2:])) == 1
    db.dispose()
