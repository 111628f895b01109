"""Each worker's in-memory copy of the owned-range registry, kept current from the change log.

A worker builds its index once, then replays `range_changes` rows newer than the last one it
saw, checking at most every `refresh_seconds`. Writers append the change row while holding the
audit-log lock, so change numbers commit in order and a replay never skips one.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Callable, Iterator

from sqlalchemy import func
from sqlmodel import Session, select

from policies.addresses import IpAddress
from policies.ownership import RangeIndex, RangeMatch
from service.db.models import RangeChange
from service.db.session import Database

_FETCH_ROWS = 20_000


def _return_free_memory() -> None:
    """Hand the build's freed heap back to the system (glibc keeps it otherwise).

    A build frees as much as it keeps, in small blocks between long-lived ones; glibc does
    not give such memory back by itself, so a worker's resident size would stay ~20 MB above
    what the index holds. A no-op where `malloc_trim` does not exist.
    """
    try:
        libc = ctypes.CDLL(None)
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _owned_rows(session: Session) -> Iterator[tuple[int, str, str]]:
    """Every owned range in id order, streamed from the driver's own cursor.

    SQLAlchemy's result rows cost three times the driver's on a million-row load, and
    `fetchall` would hold every row at once beside the index being built.
    """
    dbapi_connection = session.connection().connection.dbapi_connection
    assert dbapi_connection is not None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SELECT id, cidr, owner FROM owned_ranges ORDER BY id")
        while rows := cursor.fetchmany(_FETCH_ROWS):
            yield from rows
    finally:
        cursor.close()


class RangeRegistry:
    """The owned-range lookups of one process (`covers` satisfies the engine's protocol)."""

    def __init__(self, db: Database, *, refresh_seconds: float = 0.5, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._db = db
        self._refresh = refresh_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._index: RangeIndex | None = None
        self._seq = 0
        self._checked = float("-inf")

    def covers(self, ip: IpAddress) -> bool:
        """True when an owned range contains `ip`."""
        return self.lookup(ip) is not None

    def lookup(self, ip: IpAddress | str) -> RangeMatch | None:
        """The most specific owned range containing `ip`."""
        return self.current().lookup(ip)

    def current(self) -> RangeIndex:
        """The index, refreshed from the change log when the last check is old enough."""
        if self._monotonic() - self._checked >= self._refresh or self._index is None:
            self.refresh()
        assert self._index is not None
        return self._index

    def refresh(self) -> None:
        """Catch up with the database now: a full build the first time, a replay afterwards."""
        with self._lock, self._db.read() as session:
            latest = session.exec(select(func.max(RangeChange.seq))).one() or 0
            changes = []
            if self._index is not None and latest > self._seq:
                changes = session.exec(select(RangeChange).where(RangeChange.seq > self._seq).order_by(RangeChange.seq)).all()
            if self._index is None or any(c.op == "reload" for c in changes):
                self._index = None  # let the old index go before the new one is built
                self._index = RangeIndex.build(_owned_rows(session))
                _return_free_memory()
                self._seq = latest
            else:
                for change in changes:
                    # Replays are idempotent: a change may already be in a fresh build.
                    if change.range_id in self._index:
                        self._index.remove(change.range_id)
                    if change.op == "add":
                        self._index.add(change.range_id, change.cidr, change.owner)
                    self._seq = max(self._seq, change.seq or 0)
            self._checked = self._monotonic()
