"""The SQLite writer lock: one holder across processes and threads, a 503 after the timeout."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from pathlib import Path

import pytest

from service.db.session import Database
from service.db.writer_lock import SqliteWriterLock
from service.errors import ServiceUnavailable


def _hold_in_child(database: str, ready: object, release: object) -> None:
    lock = SqliteWriterLock(Path(database), timeout=5)
    with lock.hold():
        ready.set()  # type: ignore[attr-defined]
        release.wait(10)  # type: ignore[attr-defined]


def _child_holding(db_file: Path) -> tuple[multiprocessing.process.BaseProcess, object]:
    context = multiprocessing.get_context("fork")
    ready, release = context.Event(), context.Event()
    child = context.Process(target=_hold_in_child, args=(str(db_file), ready, release))
    child.start()
    assert ready.wait(10)
    return child, release


def test_another_process_holding_the_lock_makes_a_writer_wait_then_go(tmp_path: Path) -> None:
    db_file = tmp_path / "certgate.db"
    child, release = _child_holding(db_file)
    threading.Timer(0.3, release.set).start()  # type: ignore[attr-defined]
    started = time.monotonic()
    with SqliteWriterLock(db_file, timeout=5).hold():
        waited = time.monotonic() - started
    child.join(10)
    assert 0.25 <= waited < 5


def test_a_holder_past_the_timeout_is_a_503_not_a_hang(tmp_path: Path) -> None:
    db_file = tmp_path / "certgate.db"
    child, release = _child_holding(db_file)
    try:
        with pytest.raises(ServiceUnavailable), SqliteWriterLock(db_file, timeout=0.2).hold():
            pass
    finally:
        release.set()  # type: ignore[attr-defined]
        child.join(10)


def test_a_killed_holder_leaves_no_lock_behind(tmp_path: Path) -> None:
    db_file = tmp_path / "certgate.db"
    child, _release = _child_holding(db_file)
    child.kill()
    child.join(10)
    with SqliteWriterLock(db_file, timeout=1).hold():
        pass


def test_threads_of_one_process_exclude_each_other(tmp_path: Path) -> None:
    lock = SqliteWriterLock(tmp_path / "certgate.db", timeout=5)
    inside, overlaps = [0], []

    def write() -> None:
        for _ in range(50):
            with lock.hold():
                inside[0] += 1
                overlaps.append(inside[0])
                time.sleep(0.0002)
                inside[0] -= 1

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(overlaps) == 200 and max(overlaps) == 1


def test_a_nested_hold_in_one_thread_does_not_deadlock(tmp_path: Path) -> None:
    lock = SqliteWriterLock(tmp_path / "certgate.db", timeout=0.2)
    with lock.hold(), lock.hold():
        pass
    with lock.hold():  # released after the outer hold
        pass


def test_the_lock_file_sits_beside_the_database_with_its_permissions_and_owner(tmp_path: Path) -> None:
    db_file = tmp_path / "certgate.db"
    database = Database(f"sqlite:///{db_file}")
    try:
        with database.direct_write():
            pass
        db_file.chmod(0o640)
        lock_file = tmp_path / "certgate.db.writer-lock"
        lock_file.unlink()
        if os.geteuid() == 0:
            os.chown(db_file, 4321, 4321)  # a service user; the CLI runs as root
        with database.direct_write():
            pass
        stat = lock_file.stat()
        assert stat.st_mode & 0o777 == 0o640
        if os.geteuid() == 0:
            assert (stat.st_uid, stat.st_gid) == (4321, 4321)
    finally:
        database.dispose()


def test_without_a_database_file_yet_the_lock_file_is_private(tmp_path: Path) -> None:
    with SqliteWriterLock(tmp_path / "none.db", timeout=1).hold():
        pass
    assert (tmp_path / "none.db.writer-lock").stat().st_mode & 0o777 == 0o600


def test_writes_wait_for_a_holder_in_another_process(tmp_path: Path) -> None:
    """Both kinds of write unit take the lock (a short timeout would turn the wait into a 503)."""
    db_file = tmp_path / "certgate.db"
    database = Database(f"sqlite:///{db_file}")
    try:
        for unit in (database.write, database.direct_write):
            child, release = _child_holding(db_file)
            threading.Timer(0.2, release.set).start()  # type: ignore[attr-defined]
            started = time.monotonic()
            with unit():
                assert time.monotonic() - started >= 0.15
            child.join(10)
    finally:
        database.dispose()
