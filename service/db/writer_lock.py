"""One SQLite writer at a time across processes, handed over without SQLite's sleeping busy handler.

SQLite lets one transaction write at a time. A second `BEGIN IMMEDIATE` waits in SQLite's busy
handler, which sleeps 1, 2, 5, 10 ... ms between tries whatever the holder does. Under load the
gunicorn workers then sleep through writes that finished long before (1.4 ms of sleep per
issuance at c=16 with two workers, next to 1.9 ms of work under the lock).

Writers therefore take an advisory `flock` on a file beside the database first. The lock is
tried without blocking and then polled at sub-millisecond intervals (a blocking `flock` cannot
time out), so a writer goes as soon as the holder commits, and a holder that hangs still gives
everyone else a 503 after the busy timeout, as SQLite's own wait would. The kernel drops the lock when
its holder dies, so a killed worker never leaves it behind. Other programs that skip this lock
(the sqlite3 shell, a migration) are still serialised by SQLite itself.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from service.errors import ServiceUnavailable

_POLL_START = 0.00005
_POLL_MAX = 0.0005


class SqliteWriterLock:
    """The advisory lock of one SQLite database file, reentrant per thread."""

    def __init__(self, database: Path, *, timeout: float) -> None:
        self._database = database
        self.path = database.with_name(database.name + ".writer-lock")
        self._timeout = timeout
        self._held = threading.local()

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Hold the lock for one write transaction (nested holds in one thread are free).

        Raises:
            ServiceUnavailable: another writer held the lock past the timeout (SQLite's busy
                timeout: the same wait and the same answer as "database is locked"), or the
                lock file cannot be opened.
        """
        if getattr(self._held, "depth", 0):
            self._held.depth += 1
            try:
                yield
            finally:
                self._held.depth -= 1
            return
        # A descriptor per hold: flock excludes open files, not threads or forked copies.
        try:
            fd = self._open()
        except OSError as exc:  # the data directory is gone or read-only: SQLite could not write either
            raise ServiceUnavailable("the database is unavailable; retry later") from exc
        try:
            self._acquire(fd)
            self._held.depth = 1
            try:
                yield
            finally:
                self._held.depth = 0
        finally:
            os.close(fd)  # closing the last descriptor releases the lock

    def _open(self) -> int:
        """The lock file, created on first use as SQLite creates its -wal and -shm files: with
        the database file's permissions and, when run as root, its owner, so that a CLI run as
        root beside a service running as its own user never locks the service out."""
        try:
            return os.open(self.path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            pass
        try:
            database = self._database.stat()
            mode, owner = database.st_mode & 0o666, (database.st_uid, database.st_gid)
        except FileNotFoundError:
            mode, owner = 0o600, None
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, mode)
        try:
            os.fchmod(fd, mode)  # not narrowed by the umask, as SQLite does
            if owner is not None and os.geteuid() == 0:
                os.fchown(fd, *owner)
        except OSError:
            os.close(fd)
            raise
        return fd

    def _acquire(self, fd: int) -> None:
        deadline = time.monotonic() + self._timeout
        pause = _POLL_START
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ServiceUnavailable("the database is busy; retry later")
                time.sleep(pause)
                pause = min(pause * 2, _POLL_MAX)
