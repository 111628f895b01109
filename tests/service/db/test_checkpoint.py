"""WAL checkpoints from a background thread: they run when the log was written, and only then."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from sqlalchemy import text

from service.db.checkpoint import BACKSTOP_PAGES, WalCheckpointer
from service.db.session import Database


def _wal_database(path: Path) -> sqlite3.Connection:
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("CREATE TABLE t (v TEXT)")
    return writer


def _backfilled(connection: sqlite3.Connection) -> tuple[int, int]:
    """(frames in the log, frames copied into the database) without copying anything."""
    _busy, frames, copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return frames, copied


def test_a_written_log_is_checkpointed_and_an_unchanged_one_is_left_alone(tmp_path: Path) -> None:
    db_file = tmp_path / "certgate.db"
    writer = _wal_database(db_file)
    writer.executemany("INSERT INTO t VALUES (?)", [("x" * 500,)] * 200)
    checkpointer = WalCheckpointer(db_file)
    reader = sqlite3.connect(db_file, isolation_level=None)
    assert checkpointer.checkpoint_if_due(reader) is True
    assert checkpointer.checkpoint_if_due(reader) is False  # nothing written since
    time.sleep(0.01)
    writer.execute("INSERT INTO t VALUES ('y')")
    assert checkpointer.checkpoint_if_due(reader) is True
    frames, copied = _backfilled(reader)
    assert frames > 0 and copied == frames


def test_no_log_yet_is_not_an_error(tmp_path: Path) -> None:
    reader = sqlite3.connect(tmp_path / "none.db")
    assert WalCheckpointer(tmp_path / "none.db").checkpoint_if_due(reader) is False


def test_the_thread_keeps_up_with_writes(tmp_path: Path) -> None:
    db_file = tmp_path / "certgate.db"
    writer = _wal_database(db_file)
    checkpointer = WalCheckpointer(db_file, interval=0.02)
    checkpointer.start()
    try:
        writer.executemany("INSERT INTO t VALUES (?)", [("x" * 500,)] * 200)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            frames, copied = _backfilled(sqlite3.connect(db_file, isolation_level=None))
            if frames and copied == frames:
                break
            time.sleep(0.05)
        assert frames and copied == frames
    finally:
        checkpointer.stop()


def test_serve_mode_leaves_automatic_checkpoints_as_a_backstop_only(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'certgate.db'}")
    try:
        with database.engine.connect() as connection:
            assert connection.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 1000
        database.engine.dispose()
        database.checkpoint_in_background()
        with database.engine.connect() as connection:
            assert connection.execute(text("PRAGMA wal_autocheckpoint")).scalar() == BACKSTOP_PAGES
    finally:
        database.dispose()


def test_an_in_memory_database_has_no_checkpointer() -> None:
    database = Database("sqlite://")
    database.checkpoint_in_background()  # a no-op
    with database.engine.connect() as connection:
        assert connection.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 1000
    database.dispose()
