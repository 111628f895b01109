"""Backup under load on a real server, restore into a new data dir, a new server on it; SQLite and PostgreSQL."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.e2e.conftest import LiveServer, start_server, stop_server
from tests.e2e.load import Burst

pytestmark = pytest.mark.e2e
POSTGRES_URL = os.environ.get("CERTGATE_TEST_POSTGRES_URL")


@pytest.fixture(params=["sqlite", "postgres"])
def databases(request: pytest.FixtureRequest) -> Iterator[tuple[str | None, str | None]]:
    """(the live server's database URL, an empty one to restore into); (None, None) for SQLite in the data dir."""
    if request.param == "sqlite":
        yield None, None
        return
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL not available: set CERTGATE_TEST_POSTGRES_URL")
    names = [f"certgate_bk_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield tuple(POSTGRES_URL.rsplit("/", 1)[0] + "/" + name for name in names)  # type: ignore[misc]
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "service.cli", *args], env=env, text=True, capture_output=True, timeout=300)


def _serials(server: LiveServer, token: str) -> set[str]:
    found: set[str] = set()
    page = 1
    while True:
        status, body = server.call("GET", f"/api/v1/certificates?per_page=500&page={page}", token=token)
        assert status == 200, body
        found |= {item["serial_number"] for item in body["items"]}  # type: ignore[index]
        if page * 500 >= body["total"]:  # type: ignore[index]
            return found
        page += 1


def test_backup_under_load_restore_and_serve_on(databases: tuple[str | None, str | None], tmp_path: Path) -> None:
    live_url, restore_url = databases
    (tmp_path / "live").mkdir()
    (tmp_path / "new").mkdir()
    live = start_server(tmp_path / "live", database_url=live_url, token_keys=["requester", "admin"])
    backup = tmp_path / "backup"
    try:
        burst = Burst(live.url, live.tokens["requester"], threads=4).start()
        try:
            assert burst.wait_until(lambda: burst.done() >= 8, timeout=120), burst.tally()
            acknowledged = list(burst.outcomes)  # every answer received before the backup starts
            taken = live.cli("backup", str(backup), check=False)
            seen = burst.done()
            assert burst.wait_until(lambda: burst.done() >= seen + 6, timeout=120), burst.tally()
        finally:
            outcomes = burst.stop()
        assert taken.returncode == 0, taken.stdout + taken.stderr
        assert {o.kind for o in outcomes} == {"201"}, burst.tally()  # the writers never noticed the backup
    finally:
        stop_server(live)
    before = {o.json()["certificate"]["serial_number"] for o in acknowledged}  # type: ignore[index]
    everything = {o.json()["certificate"]["serial_number"] for o in outcomes}  # type: ignore[index]

    tampered = tmp_path / "tampered"
    shutil.copytree(backup, tampered)
    (tampered / "ca" / "root.pem").write_bytes((tampered / "ca" / "root.pem").read_bytes() + b"\n")
    env = {**os.environ, "CERTGATE_DATA_DIR": str(tmp_path / "elsewhere" / "data")}
    if restore_url:
        env["CERTGATE_DATABASE_URL"] = restore_url
    done = _cli(env, "restore", str(tampered))
    assert done.returncode == 1 and "ca/root.pem" in done.stderr, done.stderr
    assert not (tmp_path / "elsewhere" / "data").exists()

    env["CERTGATE_DATA_DIR"] = str(tmp_path / "new" / "data")
    done = _cli(env, "restore", str(backup))
    assert done.returncode == 0 and "restored into" in done.stdout, done.stdout + done.stderr
    new = start_server(tmp_path / "new", database_url=restore_url, token_keys=[], domains=())  # both came back
    try:
        new.tokens.update(live.tokens)  # the tokens came back with the database
        audited = new.cli("audit", "verify", check=False)
        assert audited.returncode == 0, audited.stdout + audited.stderr
        restored = _serials(new, new.tokens["admin"])
        assert before <= restored <= everything  # all acknowledged before, nothing invented
        burst = Burst(new.url, new.tokens["requester"], threads=2, total=10).start()
        fresh = [o.json()["certificate"]["serial_number"] for o in burst.join(120)]  # type: ignore[index]
        assert len(fresh) == 10 and len(set(fresh)) == 10 and not set(fresh) & everything
        assert _serials(new, new.tokens["admin"]) == restored | set(fresh)
    finally:
        stop_server(new)
