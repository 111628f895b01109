"""A throwaway PostgreSQL on 127.0.0.1 that a fault test may stop and start at will.

Debian's binaries run as an unprivileged user (as `scripts/test` does) from a temporary
directory; nothing else shares the instance, so stopping it hurts nobody.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

PG_USER = "certgate-pg"


def find_pg_bin() -> Path | None:
    """The newest /usr/lib/postgresql/*/bin holding initdb, or None."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    found = [p for p in candidates if (p / "initdb").exists()]
    return found[-1] if found else None


def _run_as() -> list[str]:
    if os.geteuid() != 0:
        return []
    subprocess.run(["id", PG_USER], check=True, capture_output=True)
    return ["runuser", "-u", PG_USER, "--"]


@dataclass
class ThrowawayPostgres:
    """One PostgreSQL cluster in a temp dir: `start`, `stop` (fast), `destroy`."""

    bin_dir: Path
    root: Path
    port: int

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the `postgres` database as superuser (trust auth)."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    @classmethod
    def create(cls, port: int) -> ThrowawayPostgres:
        """initdb into a fresh temp dir (owned by the unprivileged user when we are root).

        Raises:
            subprocess.CalledProcessError: initdb failed.
        """
        bin_dir = find_pg_bin()
        if bin_dir is None:
            raise FileNotFoundError("no PostgreSQL binaries under /usr/lib/postgresql")
        root = Path(tempfile.mkdtemp(prefix="certgate-ops-pg."))
        if os.geteuid() == 0:
            shutil.chown(root, PG_USER)
        subprocess.run([*_run_as(), str(bin_dir / "initdb"), "-D", str(root / "data"), "-U", "postgres", "-A", "trust",
                        "--no-sync"], check=True, capture_output=True, timeout=120)
        return cls(bin_dir, root, port)

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run([*_run_as(), str(self.bin_dir / "pg_ctl"), "-D", str(self.root / "data"), *args],
                       check=True, capture_output=True, timeout=90)

    def start(self) -> None:
        """Start and wait until it accepts connections."""
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off -c synchronous_commit=off -c max_connections=100"
        self._pg_ctl("-l", str(self.root / "server.log"), "-w", "-t", "60", "-o", options, "start")

    def stop(self) -> None:
        """Fast shutdown: open transactions are rolled back, clients disconnected."""
        self._pg_ctl("-m", "fast", "-w", "-t", "60", "stop")

    def running(self) -> bool:
        """True when the server is up (`pg_ctl status`)."""
        result = subprocess.run([*_run_as(), str(self.bin_dir / "pg_ctl"), "-D", str(self.root / "data"), "status"],
                                capture_output=True, timeout=30)
        return result.returncode == 0

    def new_database(self, name: str) -> str:
        """Create an empty database; its SQLAlchemy URL."""
        from sqlalchemy import create_engine, text

        admin = create_engine(self.url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()
        return self.url.rsplit("/", 1)[0] + "/" + name

    def destroy(self) -> None:
        """Stop (if running) and remove the cluster."""
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)
