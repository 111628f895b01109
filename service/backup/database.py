"""Database snapshots: SQLite through its online backup API, PostgreSQL through pg_dump and pg_restore."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from service.db import models  # noqa: F401 - registers every table in SQLModel.metadata
from service.errors import BackupRefused

SQLITE_FILE, POSTGRES_FILE = "db/certgate.db", "db/certgate.pgdump"


def kind_of(url: str) -> str:
    """`sqlite` or `postgresql`.

    Raises:
        BackupRefused: any other database.
    """
    backend = make_url(url).get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise BackupRefused(f"cannot back up a {backend} database")
    return backend


def sqlite_path(url: str) -> Path:
    """The file of a SQLite URL."""
    return Path(make_url(url).database or "").resolve()


def snapshot_sqlite(url: str, target: Path) -> None:
    """Copy the live database with SQLite's online backup API, in one step.

    One step reads every page inside one read transaction: a consistent snapshot of the last
    commit before it began. In WAL mode writers go on meanwhile.
    """
    source = sqlite3.connect(sqlite_path(url), timeout=30)
    try:
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
    finally:
        source.close()


def pg_tool(name: str) -> Path:
    """`pg_dump` or `pg_restore`: on the PATH, else the newest Debian install (/usr/lib/postgresql/N/bin).

    Raises:
        BackupRefused: not installed.
    """
    found = shutil.which(name)
    if found:
        return Path(found)
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
                        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if not candidates:
        raise BackupRefused(f"{name} is not installed: install the PostgreSQL client tools (Debian: postgresql-client)")
    return candidates[-1]


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URL without the password, which goes to the environment (never the command line)."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(args: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise BackupRefused(f"{what} failed: {done.stderr.strip()[-500:]}")


def snapshot_postgres(url: str, target: Path) -> None:
    """pg_dump in its custom format: one REPEATABLE READ snapshot of the whole database.

    Raises:
        BackupRefused: pg_dump is missing or failed.
    """
    dsn, env = _libpq(url)
    _run([str(pg_tool("pg_dump")), "--format=custom", "--no-owner", "--no-privileges", f"--file={target}",
          f"--dbname={dsn}"], env, "pg_dump")


def restore_postgres(url: str, dump: Path) -> None:
    """pg_restore into an empty database, in one transaction (all or nothing).

    Raises:
        BackupRefused: pg_restore is missing or failed.
    """
    dsn, env = _libpq(url)
    _run([str(pg_tool("pg_restore")), "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
          f"--dbname={dsn}", str(dump)], env, "pg_restore")


def holds_tables(url: str) -> bool:
    """Whether the database already has tables (a live database that restore must not overwrite)."""
    if kind_of(url) == "sqlite" and not sqlite_path(url).exists():
        return False
    engine = create_engine(url)
    try:
        return bool(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def drop_restored(url: str) -> None:
    """Undo a failed PostgreSQL restore: drop every certgate table (the database was empty before)."""
    engine = create_engine(url)
    try:
        SQLModel.metadata.drop_all(engine)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    finally:
        engine.dispose()
