"""Moving SQLite's WAL checkpoints off the request path of a serving worker.

In WAL mode SQLite copies the log back into the database file (a checkpoint) in whichever
connection's commit pushes the log past 1000 pages. With `synchronous=NORMAL` that checkpoint
is the only place SQLite waits for the disk (two fsyncs), and it happens inside a request,
under the writer lock: at about 29 pages per issuance, one request in 35 waited for the disk
and the other worker waited for it. Measured under `bench/issuance.py` at c=16: 1.3-1.6 ms of
blocked time per request with automatic checkpoints, 0.5 ms without.

A serving worker therefore raises its connections' automatic threshold out of the way (it
stays as a backstop) and runs a PASSIVE checkpoint from a daemon thread every `interval`
seconds in which the log was written to. The thread has its own connection; `sqlite3` releases the GIL while SQLite
works, so requests go on while it copies pages and waits for the disk. A PASSIVE checkpoint
never blocks readers or writers; when another worker's checkpoint runs, this one does what is
left or nothing. The thread starts after gunicorn forks: a thread holding SQLite's mutexes
must never be copied into a child.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger("certgate.db")

BACKSTOP_PAGES = 20_000  # ~80 MB: automatic checkpoints only if the thread falls far behind


class WalCheckpointer:
    """A daemon thread that checkpoints one SQLite database's WAL when it grows."""

    def __init__(self, database: Path, *, interval: float = 0.25) -> None:
        self._database = database
        self._wal = database.with_name(database.name + "-wal")
        self._interval = interval
        self._seen_write: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start checkpointing in the background (once per process, after any fork)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="certgate-wal-checkpoint", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread and wait for it (tests; a worker simply exits)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        connection = sqlite3.connect(self._database, timeout=1, isolation_level=None, check_same_thread=False)
        try:
            while not self._stop.wait(self._interval):
                self.checkpoint_if_due(connection)
        finally:
            connection.close()

    def checkpoint_if_due(self, connection: sqlite3.Connection) -> bool:
        """Checkpoint once when the log was written since the last look; True when it ran.

        The log's size says nothing here: SQLite rewrites the file from its start after a
        complete checkpoint instead of shrinking it. Its modification time does.
        """
        try:
            written = self._wal.stat().st_mtime_ns
            if written == self._seen_write:
                return False
            self._seen_write = written
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            return True
        except FileNotFoundError:
            return False
        except sqlite3.Error as exc:  # busy or gone: the next round (or the backstop) catches up
            log.warning("WAL checkpoint skipped: %s", exc)
            return False
