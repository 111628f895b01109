"""Each worker's in-memory copy of the owned-range registry, kept current from the change log.

A worker builds its index once, then replays `range_changes` rows newer than the last one it
saw. Every judged request first reads the log's head (`service.change_heads`) and replays up to
it, so a change is seen by every request that starts after it committed; other readers check at
most every `refresh_seconds`. Writers append the change row while holding the audit-log lock,
so change numbers commit in order and a replay never skips one.

A bulk import writes one `reload` change instead of a row per range. A worker that sees it
rebuilds its index in a background thread (about 4 s at a million ranges) and swaps it in;
until then it answers every lookup from the table itself (`_lookup_in_table`: one indexed
query over the 33 or 129 CIDRs that could contain the address), so no request waits for the
build and every request that starts after the import committed sees the imported ranges.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from policies.addresses import IpAddress
from policies.cidr import format_prefix, parse_address
from policies.ownership import RangeIndex, RangeMatch
from sqlalchemy.sql.schema import Table

from service.db.models import OwnedRange, RangeChange, table_of
from service.db.session import Database

log = logging.getLogger("certgate.ranges")

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


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Keep the cyclic garbage collector out of a full build.

    A build allocates millions of tuples and ints, none in a reference cycle, and the collector
    would walk the growing heap again and again for nothing. On 885,653 ranges, six alternating
    builds each: CPU 3.1-5.1 s (median 4.2) with it, 3.1-4.1 s (median 3.95) without. It is
    switched back on (when it was on) however the build ends.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_IPV4_ROWS = "SELECT id, first_high, prefix_len, owner FROM owned_ranges WHERE version = 4 ORDER BY id"
_IPV6_ROWS = "SELECT id, first_high, first_low, prefix_len, owner FROM owned_ranges WHERE version = 6 ORDER BY id"


def _driver_rows(session: Session, sql: str) -> Iterator[tuple[Any, ...]]:
    """Rows of `sql`, in order, streamed from the driver's own cursor once iteration starts.

    SQLAlchemy's result rows cost three times the driver's on a million-row load, and
    `fetchall` would hold every row at once beside the index being built.
    """
    dbapi_connection = session.connection().connection.dbapi_connection
    assert dbapi_connection is not None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(_FETCH_ROWS):
            yield from rows
    finally:
        cursor.close()


def _build_from_table(session: Session) -> RangeIndex:
    """Every owned range from its numeric columns, by family and in id order (no text parsed).

    The two statements may see different commits under READ COMMITTED; that is safe because the
    caller read the change log's head first and replays every later change (replays are
    idempotent), as with any build.
    """
    return RangeIndex.build_stored(_driver_rows(session, _IPV4_ROWS), _driver_rows(session, _IPV6_ROWS))


_CHANGE_LOG = table_of(RangeChange)


class RangeRegistry:
    """The owned-range lookups of one process (`covers` satisfies the engine's protocol)."""

    def __init__(self, db: Database, *, refresh_seconds: float = 0.5, monotonic: Callable[[], float] = time.monotonic,
                 before_swap: Callable[[], object] = lambda: None) -> None:
        """`before_swap` runs in the rebuild thread between the build and the swap (tests hold it there)."""
        self._db = db
        self._before_swap = before_swap
        self._refresh = refresh_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._index: RangeIndex | None = None
        self._seq = 0
        self._checked = float("-inf")
        self._rebuild: threading.Thread | None = None
        self.rebuilds = 0  # background rebuilds swapped in (for tests and the benchmark)

    @property
    def change_log(self) -> Table:
        """The table this registry replays (`service.change_heads.FollowsChangeLog`)."""
        return _CHANGE_LOG

    def catch_up(self, head: int) -> None:
        """Replay (or build) up to at least change `head`; when already there, just note the check.

        Changes are applied in `seq` order and `_seq` moves after each one, so `_seq >= head`
        read without the lock still means every change up to `head` is in the index.
        """
        if self._index is not None and self._seq >= head:
            self._checked = self._monotonic()  # the time-based check of `current` need not read again
            return
        self.refresh()

    @property
    def built(self) -> bool:
        """Whether this process holds an index yet (it builds on first use or `refresh`)."""
        return self._index is not None

    @property
    def rebuilding(self) -> bool:
        """Whether a background rebuild is under way (lookups go to the table meanwhile)."""
        return self._rebuild is not None

    def covers(self, ip: IpAddress) -> bool:
        """True when an owned range contains `ip`."""
        return self.lookup(ip) is not None

    def lookup(self, ip: IpAddress | str) -> RangeMatch | None:
        """The most specific owned range containing `ip`.

        Raises:
            InvalidCidr: `ip` is text that is not a strict IP literal.
        """
        index = self._fresh()
        if index is None:
            return self._lookup_in_table(ip)
        return index.lookup(ip)

    def current(self) -> RangeIndex:
        """The index, refreshed from the change log; waits for a background rebuild to finish."""
        self._fresh()
        rebuild = self._rebuild
        if rebuild is not None:
            rebuild.join()
            self.refresh()
        assert self._index is not None
        return self._index

    def wait_for_rebuild(self, timeout: float | None = None) -> bool:
        """Wait for a background rebuild (if any); True when none is left running."""
        rebuild = self._rebuild
        if rebuild is not None:
            rebuild.join(timeout)
        return self._rebuild is None

    def _fresh(self) -> RangeIndex | None:
        """The index after a refresh when the last check is old enough; None while one is rebuilt."""
        if self._monotonic() - self._checked >= self._refresh or (self._index is None and self._rebuild is None):
            self.refresh()
        return self._index

    def refresh(self) -> None:
        """Catch up with the database now: a full build the first time, a replay afterwards.

        After a bulk import (a `reload` change) the old index is dropped and a new one is built
        in a background thread; lookups read the table until it is swapped in.
        """
        with self._lock:
            if self._rebuild is not None:
                self._checked = self._monotonic()
                return  # the rebuild replays what came after its snapshot when it swaps in
            with self._db.read() as session:
                latest = session.exec(select(func.max(RangeChange.seq))).one() or 0
                changes: Sequence[RangeChange] = ()
                if self._index is not None and latest > self._seq:
                    changes = session.exec(select(RangeChange).where(col(RangeChange.seq) > self._seq)
                                           .order_by(col(RangeChange.seq))).all()
                if self._index is None:
                    self._index, self._seq = self._build(session, latest)  # the first build: at start-up
                elif any(c.op == "reload" for c in changes):
                    self._index = None  # let the old index go: the table answers until the new one is in
                    self._rebuild = threading.Thread(target=self._rebuild_in_background, name="range-index-rebuild",
                                                     daemon=True)
                    self._rebuild.start()
                else:
                    self._replay(changes)
            self._checked = self._monotonic()

    def _replay(self, changes: Sequence[RangeChange]) -> None:
        assert self._index is not None
        for change in changes:
            # Replays are idempotent: a change may already be in a fresh build.
            if change.range_id in self._index:
                self._index.remove(change.range_id)
            if change.op == "add":
                self._index.add(change.range_id, change.cidr, change.owner)
            self._seq = max(self._seq, change.seq or 0)

    @staticmethod
    def _build(session: Session, latest: int) -> tuple[RangeIndex, int]:
        with _no_cycle_collection():
            index = _build_from_table(session)
        _return_free_memory()
        return index, latest

    def _rebuild_in_background(self) -> None:
        """Build from the table off the request path, then swap in and replay what came since."""
        try:
            with self._db.read() as session:
                latest = session.exec(select(func.max(RangeChange.seq))).one() or 0
                index, seq = self._build(session, latest)
            self._before_swap()
            with self._lock:
                self._index, self._seq = index, seq
                self.rebuilds += 1
                self._checked = float("-inf")  # the next lookup replays changes after the snapshot
        except Exception:  # noqa: BLE001 - a thread's error has nobody to reach but the log
            log.exception("range index rebuild failed; the table answers until the next refresh builds again")
        finally:
            with self._lock:
                self._rebuild = None  # on failure the next refresh builds again (the table answers till then)

    def _lookup_in_table(self, ip: IpAddress | str) -> RangeMatch | None:
        """The most specific owned range containing `ip`, read from the table (while the index is rebuilt).

        Stored CIDR texts are canonical (`format_prefix`) and unique, so the ranges that could
        contain an address are its 33 (IPv4) or 129 (IPv6) prefixes, found through the unique
        index on `cidr`, never a scan.
        """
        version, value = parse_address(ip) if isinstance(ip, str) else (ip.version, ip.value)
        bits = 32 if version == 4 else 128
        candidates = {}
        for prefix_len in range(bits + 1):
            first = value >> (bits - prefix_len) << (bits - prefix_len) if prefix_len else 0
            candidates[format_prefix(version, first, prefix_len)] = (first, prefix_len)
        with self._db.read() as session:
            rows = session.exec(select(OwnedRange.id, OwnedRange.owner, OwnedRange.cidr)
                                .where(col(OwnedRange.cidr).in_(list(candidates)))).all()
        if not rows:
            return None
        range_id, owner, cidr = max(rows, key=lambda r: (candidates[r[2]][1], -(r[0] or 0)))
        first, prefix_len = candidates[cidr]
        return RangeMatch(range_id or 0, owner, version, first, prefix_len)
