"""The database handle: one engine per process, read and write units of work.

SQLite gets WAL, a busy timeout and `BEGIN IMMEDIATE` for writes, so two writers never
deadlock on a lock upgrade; PostgreSQL gets a plain pool. Both run the same code.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import Session, create_engine

from service.errors import ServiceUnavailable

_WRITE = "certgate_write"
_POSTGRES_CONNECT_ARGS = {"connect_timeout": 5, "keepalives": 1, "keepalives_idle": 10,
                          "keepalives_interval": 5, "keepalives_count": 3}


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")


class Database:
    """An engine plus the two kinds of unit of work the use cases run in."""

    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            # pre-ping replaces connections that died while pooled (a database restart);
            # the timeouts and keepalives bound how long a request can wait on a dead server.
            kwargs.update(pool_size=pool_size, max_overflow=10, pool_pre_ping=True, pool_timeout=10)
            if url.startswith("postgresql"):
                kwargs["connect_args"] = dict(_POSTGRES_CONNECT_ARGS)
        self.engine = create_engine(url, **kwargs)
        if self.is_sqlite:
            _sqlite_setup(self.engine)
        self._write_engine = self.engine.execution_options(**{_WRITE: True})

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One transaction that commits on success and rolls back on any error.

        Raises:
            ServiceUnavailable: the database cannot be reached.
        """
        with _unavailable_on_disconnect(), Session(self._write_engine, expire_on_commit=False) as session:
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

    def dispose(self) -> None:
        """Close pooled connections (after a fork, or at shutdown)."""
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
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate:
        return sqlstate.startswith(_UNAVAILABLE_SQLSTATES)
    if isinstance(orig, sqlite3.Error):
        return isinstance(orig, sqlite3.OperationalError) and any(s in str(orig).lower() for s in _SQLITE_UNAVAILABLE)
    # psycopg reports a refused, reset or closed connection without a SQLSTATE.
    return isinstance(exc, (OperationalError, InterfaceError))
