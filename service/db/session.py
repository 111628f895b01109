"""The database handle: one engine per process, read and write units of work.

SQLite gets WAL, a busy timeout and `BEGIN IMMEDIATE` for writes, so two writers never
deadlock on a lock upgrade, and a cross-process writer lock in front of every write
(`service.db.writer_lock`); PostgreSQL gets a plain pool. Both run the same code.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import Session, create_engine

from service.db.checkpoint import BACKSTOP_PAGES, WalCheckpointer
from service.db.direct import DirectUnit
from service.db.writer_lock import SqliteWriterLock
from service.errors import ServiceUnavailable

_WRITE = "certgate_write"
_SQLITE_BUSY_SECONDS = 30
_POSTGRES_CONNECT_ARGS = {"connect_timeout": 5, "keepalives": 1, "keepalives_idle": 10,
                          "keepalives_interval": 5, "keepalives_count": 3}


def _sqlite_setup(engine: Engine, autocheckpoint_pages: Callable[[], int]) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA wal_autocheckpoint={int(autocheckpoint_pages())}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_SECONDS * 1000}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")


def _is_sqlite_file(url: str) -> bool:
    """A SQLite URL naming a file (pooled), not an in-memory database (one connection per thread)."""
    database = make_url(url).database
    return bool(database) and database != ":memory:" and not str(database).startswith("file:")


class Database:
    """An engine plus the two kinds of unit of work the use cases run in."""

    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": _SQLITE_BUSY_SECONDS}
            if _is_sqlite_file(url):
                # The connection returned last is the one handed out next: a request's reads and
                # its write then run on one connection, whose page cache stays valid between them.
                # In turns (the default), each transaction found the cache outdated by the other
                # connection's commit and read its pages again (52 `pread`s per issuance, 3 now).
                kwargs["pool_use_lifo"] = True
        else:
            # pre-ping replaces connections that died while pooled (a database restart);
            # the timeouts and keepalives bound how long a request can wait on a dead server.
            kwargs.update(pool_size=pool_size, max_overflow=10, pool_pre_ping=True, pool_timeout=10)
            if url.startswith("postgresql"):
                kwargs["connect_args"] = dict(_POSTGRES_CONNECT_ARGS)
        self.engine = create_engine(url, **kwargs)
        self._autocheckpoint_pages = 1000  # SQLite's default
        self._checkpointer: WalCheckpointer | None = None
        if self.is_sqlite:
            _sqlite_setup(self.engine, lambda: self._autocheckpoint_pages)
        self._write_engine = self.engine.execution_options(**{_WRITE: True})
        self._sqlite_file: Path | None = None
        self._writer_lock: SqliteWriterLock | None = None
        if self.is_sqlite and _is_sqlite_file(url):
            self._sqlite_file = Path(str(self.engine.url.database)).resolve()
            self._writer_lock = SqliteWriterLock(self._sqlite_file, timeout=_SQLITE_BUSY_SECONDS)

    def checkpoint_in_background(self) -> None:
        """Serve mode: WAL checkpoints from a thread, not inside requests (`service.db.checkpoint`).

        Call it in each serving process after the fork and before its first connection; a no-op
        on PostgreSQL and in-memory SQLite.
        """
        if self._sqlite_file is None or self._checkpointer is not None:
            return
        self._autocheckpoint_pages = BACKSTOP_PAGES
        self._checkpointer = WalCheckpointer(self._sqlite_file)
        self._checkpointer.start()

    def _writer(self) -> AbstractContextManager[None]:
        """The cross-process writer lock around a SQLite write (`service.db.writer_lock`)."""
        return self._writer_lock.hold() if self._writer_lock is not None else nullcontext()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One transaction that commits on success and rolls back on any error.

        Raises:
            ServiceUnavailable: the database cannot be reached.
        """
        with self._writer(), _unavailable_on_disconnect(), Session(self._write_engine, expire_on_commit=False) as session:
            with session.begin():
                yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only unit of work (rolled back at the end).

        Raises:
            ServiceUnavailable: the database cannot be reached.
        """
        with _unavailable_on_disconnect(), Session(self.engine, expire_on_commit=False) as session:
            yield session  # closing the session rolls the read transaction back

    @contextmanager
    def direct_read(self) -> Iterator[DirectUnit]:
        """A read on the pooled DBAPI connection, for the hot path (see `service.db.direct`).

        Raises:
            ServiceUnavailable: the database cannot be reached.
        """
        with self._direct(write=False) as unit:
            yield unit

    @contextmanager
    def direct_write(self) -> Iterator[DirectUnit]:
        """A write transaction on the pooled DBAPI connection: commits on success, else rolls back.

        Raises:
            ServiceUnavailable: the database cannot be reached.
        """
        with self._writer(), self._direct(write=True) as unit:
            yield unit

    @contextmanager
    def _direct(self, *, write: bool) -> Iterator[DirectUnit]:
        driver_error = self.engine.dialect.loaded_dbapi.Error
        try:
            with _unavailable_on_disconnect():
                pooled = self.engine.raw_connection()  # the pool's checks (pre-ping) still apply
        except driver_error as exc:  # a failed connect reaches us unwrapped
            if is_unavailable_error(exc):
                raise ServiceUnavailable("the database is unavailable; retry later") from exc
            raise
        try:
            cursor = pooled.cursor()
            if self.is_sqlite and write:
                cursor.execute("BEGIN IMMEDIATE")  # the connection runs in autocommit mode otherwise
            yield DirectUnit(cursor, self.engine.dialect)
            if self.is_sqlite:
                if write:
                    cursor.execute("COMMIT")
            elif write:
                pooled.commit()
            else:
                pooled.rollback()
        except BaseException as exc:
            self._abandon(pooled, exc)
            if isinstance(exc, driver_error) and is_unavailable_error(exc):
                raise ServiceUnavailable("the database is unavailable; retry later") from exc
            raise
        finally:
            pooled.close()

    def _abandon(self, pooled: Any, exc: BaseException) -> None:
        """Roll back after a failure; a connection the failure broke leaves the pool for good."""
        dbapi = pooled.dbapi_connection
        if isinstance(exc, self.engine.dialect.loaded_dbapi.Error) and self.engine.dialect.is_disconnect(exc, dbapi, None):
            pooled.invalidate(exc)
            return
        try:
            if not self.is_sqlite:
                pooled.rollback()
            elif dbapi.in_transaction:
                dbapi.execute("ROLLBACK")
        except Exception:  # noqa: BLE001 - the connection is unusable: drop it, keep the first error
            pooled.invalidate()

    def dispose(self) -> None:
        """Close pooled connections (after a fork, or at shutdown) and stop the checkpointer."""
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        self.engine.dispose()


# SQLSTATE classes that mean "the database is not there right now", not "your query is wrong":
# 08 connection exception, 53 insufficient resources (too many connections, disk full),
# 57P01-57P03 admin shutdown, crash shutdown, cannot connect now (starting up / shutting down).
_UNAVAILABLE_SQLSTATES = ("08", "53", "57P01", "57P02", "57P03")
# SQLite's transient failures: another writer held the lock past the busy timeout, or the file is gone.
_SQLITE_UNAVAILABLE = ("database is locked", "database is busy", "disk i/o error", "unable to open database")


@contextmanager
def _unavailable_on_disconnect() -> Iterator[None]:
    """Turn "the database is down or busy" into `ServiceUnavailable`; anything else propagates.

    It wraps the whole unit of work, so failures on connect (pool checkout, pre-ping), during
    a query, at flush and at commit are all caught; the session has rolled back by then.
    """
    try:
        yield
    except (DisconnectionError, PoolTimeout) as exc:
        raise ServiceUnavailable("the database is unavailable; retry later") from exc
    except DBAPIError as exc:
        if is_unavailable(exc):
            raise ServiceUnavailable("the database is unavailable; retry later") from exc
        raise


def is_unavailable(exc: DBAPIError) -> bool:
    """True when `exc` means the database is unreachable or shedding load, so a retry may succeed."""
    return exc.connection_invalidated or is_unavailable_error(exc.orig)


def is_unavailable_error(orig: BaseException | None) -> bool:
    """The same judgement for a driver's own exception (the direct path sees those unwrapped)."""
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate:
        return sqlstate.startswith(_UNAVAILABLE_SQLSTATES)
    if isinstance(orig, sqlite3.Error):
        return isinstance(orig, sqlite3.OperationalError) and any(s in str(orig).lower() for s in _SQLITE_UNAVAILABLE)
    # psycopg reports a refused, reset or closed connection without a SQLSTATE.
    return any(c.__name__ in ("OperationalError", "InterfaceError") for c in type(orig).__mro__)
