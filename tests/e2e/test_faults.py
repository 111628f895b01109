"""Faults under load through a real gunicorn: a killed worker, a database outage, a full accept queue.

Each test states what a client sees and then checks, straight in the database, that nothing
was half-written: certificates and their audit events match, the log verifies.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Connection, create_engine, event, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, select

from service.audit.log import append_event
from service.db.migrate import upgrade
from service.db.models import AuditEvent
from service.db.session import Database, is_unavailable
from service.errors import ServiceUnavailable

from tests.e2e.conftest import LiveServer, free_port, start_server, stop_server
from tests.e2e.invariants import check_ledger
from tests.e2e.load import Burst, Outcome, call, submission
from tests.e2e.pgserver import ThrowawayPostgres, find_pg_bin

pytestmark = pytest.mark.e2e

CONNECTION_ERRORS = {"ConnectionResetError", "RemoteDisconnected", "BrokenPipeError", "ConnectionRefusedError",
                     "ConnectionAbortedError", "IncompleteRead", "BadStatusLine"}


def workers_of(server: LiveServer) -> set[int]:
    """The gunicorn workers: children of the master (the `certgate serve` process itself)."""
    out = subprocess.run(["pgrep", "-P", str(server.process.pid)], capture_output=True, text=True).stdout
    return {int(pid) for pid in out.split()}


def wait_for(predicate: object, timeout: float, step: float = 0.1) -> bool:
    """Poll a zero-argument callable until it is truthy or `timeout` seconds passed."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def sqlite_url(server: LiveServer) -> str:
    return server.env.get("CERTGATE_DATABASE_URL") or f"sqlite:///{server.data_dir / 'certgate.db'}"


def assert_consistent(server: LiveServer) -> None:
    """The ledger invariants hold and `certgate audit verify` agrees."""
    state = check_ledger(sqlite_url(server))
    assert not state.problems, state.problems
    verify = server.cli("audit", "verify", check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def assert_serves(server: LiveServer) -> None:
    health = call(server.url, "GET", "/healthz", timeout=10)
    assert health.status == 200, health
    issued = call(server.url, "POST", "/api/v1/requests", token=server.tokens["requester"], body=submission())
    assert issued.status == 201, issued


@pytest.mark.parametrize("server_kind", ["gunicorn", "granian"])
def test_a_killed_worker_is_replaced_and_nothing_is_half_written(tmp_path: Path, server_kind: str) -> None:
    server = start_server(tmp_path, workers=2, token_keys=["requester"], serve_args=("--server", server_kind))
    try:
        before = workers_of(server)
        assert len(before) == 2
        burst = Burst(server.url, server.tokens["requester"], threads=8, total=200).start()
        assert burst.wait_until(lambda: burst.done() >= 40, timeout=60)
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        assert wait_for(lambda: len(workers_of(server) - before) == 1 and len(workers_of(server)) == 2, timeout=30), \
            f"{server_kind} did not replace the killed worker"
        outcomes = burst.join(timeout=90)
        tally = burst.tally()
        print(f"\nkilled worker {victim} after 40 answers; outcomes: {dict(tally)}")
        assert len(outcomes) == 200
        assert set(tally) <= {"201"} | CONNECTION_ERRORS, tally
        # A gunicorn sync worker holds one connection; a granian worker accepts connections
        # itself and queues them for its Python thread, so a crash drops those it holds (at most
        # one per client here: 8). Either way the rest are answered and nothing is half-written.
        lost = sum(n for kind, n in tally.items() if kind != "201")
        assert lost <= (2 if server_kind == "gunicorn" else 8), "only the killed worker's own connections may fail"
        assert_serves(server)
        assert_consistent(server)
        certificates = check_ledger(sqlite_url(server)).certificates
        assert certificates >= tally["201"] + 1  # every 201 is there (plus assert_serves' one)
    finally:
        stop_server(server)


@pytest.fixture(scope="module")
def pg_cluster() -> Iterator[ThrowawayPostgres]:
    """A PostgreSQL that only this module uses, so stopping it hurts nobody."""
    if find_pg_bin() is None:
        pytest.skip("PostgreSQL binaries are not installed (/usr/lib/postgresql/*/bin)")
    pg = ThrowawayPostgres.create(free_port())
    pg.start()
    yield pg
    pg.destroy()


@pytest.fixture
def own_postgres(pg_cluster: ThrowawayPostgres) -> ThrowawayPostgres:
    """The module's PostgreSQL, running (a test before may have stopped it)."""
    if not pg_cluster.running():
        pg_cluster.start()
    return pg_cluster


@pytest.fixture
def pg_database(own_postgres: ThrowawayPostgres) -> Iterator[Database]:
    """A fresh, migrated database on the throwaway server, opened as the service opens it."""
    url = own_postgres.new_database(f"faults_{uuid.uuid4().hex[:10]}")
    upgrade(url)
    db = Database(url)
    yield db
    db.dispose()


def _terminate(url: str, pid: int) -> None:
    """Kill one backend from outside, as a crash or an operator would."""
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar() is True
    finally:
        admin.dispose()


def _audit_size(db: Database) -> int:
    with db.read() as session:
        return len(session.exec(select(AuditEvent)).all())


def _event(session: Session, n: int) -> None:
    append_event(session, event="test:fault", actor="faults", subject=f"test:{n}", data={"n": n}, at=datetime.now(UTC))


def test_a_connection_killed_mid_transaction_is_a_503_and_leaves_nothing(pg_database: Database) -> None:
    with pytest.raises(ServiceUnavailable):
        with pg_database.write() as session:
            _event(session, 1)  # flushed: the row and the head update are on the server, uncommitted
            pid = session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
            assert isinstance(pid, int)
            _terminate(pg_database.url, pid)
            _event(session, 2)
    assert _audit_size(pg_database) == 0
    with pg_database.write() as session:  # the pool replaced the dead connection
        _event(session, 3)
    assert _audit_size(pg_database) == 1


def test_a_connection_lost_at_commit_is_a_503_and_leaves_nothing(pg_database: Database) -> None:
    def kill_before_commit(conn: Connection) -> None:
        _terminate(pg_database.url, conn.exec_driver_sql("SELECT pg_backend_pid()").scalar())  # type: ignore[arg-type]

    event.listen(pg_database.engine, "commit", kill_before_commit)
    try:
        with pytest.raises(ServiceUnavailable):
            with pg_database.write() as session:
                _event(session, 1)
    finally:
        event.remove(pg_database.engine, "commit", kill_before_commit)
    assert _audit_size(pg_database) == 0


def test_pooled_connections_that_died_are_replaced_and_a_stopped_server_is_a_503(
        pg_database: Database, own_postgres: ThrowawayPostgres) -> None:
    with pg_database.read() as session:
        pid = session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
    assert isinstance(pid, int)
    _terminate(pg_database.url, pid)  # the pooled connection is now dead
    assert _audit_size(pg_database) == 0  # pre-ping noticed and reconnected: no error at all
    own_postgres.stop()
    with pytest.raises(ServiceUnavailable):
        _audit_size(pg_database)
    with pytest.raises(ServiceUnavailable):
        with pg_database.write() as session:
            _event(session, 1)
    own_postgres.start()
    with pg_database.write() as session:
        _event(session, 2)
    assert _audit_size(pg_database) == 1


def test_a_database_that_accepts_but_never_answers_is_a_503_not_a_hang() -> None:
    """A hung server (or a black-holed network) must not hold a worker until gunicorn kills it."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes the handshake; nobody ever speaks PostgreSQL
        db = Database(f"postgresql+psycopg://postgres@127.0.0.1:{silent.getsockname()[1]}/postgres")
        failures: list[BaseException] = []

        def probe() -> None:
            try:
                _audit_size(db)
            except BaseException as exc:  # noqa: BLE001 - handed to the test thread
                failures.append(exc)

        prober = threading.Thread(target=probe, daemon=True)
        prober.start()
        prober.join(timeout=25)
        assert not prober.is_alive(), "the database call hung (no connect timeout)"
        assert len(failures) == 1 and isinstance(failures[0], ServiceUnavailable), failures
        db.dispose()


@pytest.mark.parametrize(("orig", "unavailable"), [
    (sqlite3.OperationalError("database is locked"), True),
    (sqlite3.OperationalError("disk I/O error"), True),
    (sqlite3.OperationalError("no such table: requests"), False),
    (sqlite3.IntegrityError("UNIQUE constraint failed: certificates.serial_number"), False),
])
def test_which_sqlite_failures_are_an_outage(orig: Exception, unavailable: bool) -> None:
    wrapper = OperationalError if isinstance(orig, sqlite3.OperationalError) else IntegrityError
    assert is_unavailable(wrapper("SELECT 1", None, orig)) is unavailable


def _is_unavailable(outcome: Outcome) -> bool:
    if outcome.status != 503:
        return False
    body = outcome.json()
    return isinstance(body, dict) and body.get("error", {}).get("code") == "unavailable" and outcome.retry_after is not None


def test_a_database_outage_answers_503_and_recovers_without_a_restart(tmp_path: Path, own_postgres: ThrowawayPostgres) -> None:
    server = start_server(tmp_path, workers=2, database_url=own_postgres.url, token_keys=["requester"])
    try:
        burst = Burst(server.url, server.tokens["requester"], threads=4).start()
        assert burst.wait_until(lambda: burst.tally()["201"] >= 20, timeout=60)
        stopped_at = len(burst.outcomes)
        own_postgres.stop()
        assert burst.wait_until(lambda: burst.tally()["503"] >= 10, timeout=30), burst.tally()
        health = call(server.url, "GET", "/healthz", timeout=10)
        assert health.status == 503 and health.json()["error"]["code"] == "unavailable", health  # type: ignore[index]
        anonymous = call(server.url, "GET", "/api/v1/audit/sth", timeout=10)
        assert _is_unavailable(anonymous), anonymous

        own_postgres.start()
        restarted_at = len(burst.outcomes)
        assert burst.wait_until(lambda: any(o.status == 201 for o in burst.outcomes[restarted_at:]), timeout=30), \
            "no issuance succeeded after PostgreSQL came back"
        assert burst.wait_until(lambda: sum(o.status == 201 for o in burst.outcomes[restarted_at:]) >= 10, timeout=30)
        outcomes = burst.stop()
        tally = burst.tally()
        print(f"\noutage outcomes: {dict(tally)}; slowest answer {max(o.seconds for o in outcomes):.2f}s")
        assert set(tally) <= {"201", "503"}, tally  # never a 500, never a dropped connection, never a timeout
        assert all(_is_unavailable(o) for o in outcomes if o.status == 503), [o for o in outcomes if o.status == 503][:3]
        assert all(o.status == 201 for o in outcomes[:stopped_at])
        assert call(server.url, "GET", "/healthz", timeout=10).status == 200
        assert_serves(server)
        assert_consistent(server)
    finally:
        stop_server(server)


def test_a_full_accept_queue_refuses_or_delays_but_never_fails(tmp_path: Path) -> None:
    """96 clients at once against one sync worker and a kernel queue of 4.

    What a client sees (Linux, tcp_abort_on_overflow=0): a SYN that finds the queue full is
    dropped and retried by the client (after 1 s, 3 s, 7 s ...), so most answers are late but
    normal; some connections are reset; a few look established to the client but were dropped
    by the server and stall until the client's own timeout. Never a 5xx, never a hang past it.
    """
    server = start_server(tmp_path, workers=1, serve_args=("--backlog", "4"), token_keys=["requester"])
    try:
        flood = Burst(server.url, server.tokens["requester"], threads=96, total=96, timeout=20).start()
        outcomes = flood.join(timeout=45)
        tally = flood.tally()
        print(f"\nflood of 96 concurrent submissions, --workers 1 --backlog 4: {dict(tally)}; slowest per kind {flood.slowest()}")
        assert len(outcomes) == 96
        assert set(tally) <= {"201", "TimeoutError"} | CONNECTION_ERRORS, tally
        assert tally["201"] > 0
        assert all(o.seconds < 20 + 5 for o in outcomes)  # bounded by the client's timeout, never a hang
        assert_serves(server)
        assert_consistent(server)
    finally:
        stop_server(server)
