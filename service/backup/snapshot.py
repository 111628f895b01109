"""`certgate backup DEST`: the database snapshot first, then the files it refers to, then the signed manifest."""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from service.backup.database import POSTGRES_FILE, SQLITE_FILE, kind_of, snapshot_postgres, snapshot_sqlite
from service.backup.manifest import Manifest, files_under, seal, sha256_file
from service.ca.keystore import load_private_key, write_file_atomically
from service.errors import BackupRefused
from service.process.bootstrap import audit_key_path
from service.process.config import Settings

# What a restore needs from the data dir besides the database: CA certificates and keys (as they
# are at rest: encrypted when a passphrase is set), OCSP responders, the audit-log key, the
# server's TLS certificate. Not the metrics scratch dir, nor the database files themselves.
DATA_DIRS = ("ca", "ocsp", "audit", "tls")
POLICY_DIR = "policy"


def copy_tree(source: Path, target: Path) -> None:
    """Copy the regular files below `source` (keeping each file's mode; temp leftovers skipped)."""
    for path in sorted(source.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            write_file_atomically(target / path.relative_to(source), path.read_bytes(), path.stat().st_mode & 0o777)


def _empty_or_absent(path: Path) -> bool:
    return not path.exists() or (path.is_dir() and not any(path.iterdir()))


def take_backup(settings: Settings, dest: Path, now: datetime) -> Manifest:
    """Write one consistent backup to `dest` (absent or empty) while the service keeps serving.

    The database snapshot comes first: everything committed before it is in the backup, nothing
    after it is. The files come after it, so every CA generation the snapshot names is there
    (a rollover writes its files before its row commits). The backup appears under `dest` only
    when complete and sealed.

    Raises:
        BackupRefused: `dest` holds something, or the database tool failed.
        CaError: the audit-log key cannot be read (wrong CERTGATE_CA_PASSPHRASE).
    """
    if not _empty_or_absent(dest):
        raise BackupRefused(f"{dest} exists and is not empty: a backup goes to a new directory")
    key = load_private_key(audit_key_path(settings.data_dir), settings.ca_passphrase)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise BackupRefused("the audit-log key is not an ECDSA key")
    database = kind_of(settings.database_url)
    dest = dest.resolve()
    staging = dest.parent / f".{dest.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "db").mkdir(mode=0o700, parents=True)
    os.chmod(staging, 0o700)
    try:
        if database == "sqlite":
            snapshot_sqlite(settings.database_url, staging / SQLITE_FILE)
        else:
            snapshot_postgres(settings.database_url, staging / POSTGRES_FILE)
        os.chmod(staging / (SQLITE_FILE if database == "sqlite" else POSTGRES_FILE), 0o600)
        for name in DATA_DIRS:
            if (settings.data_dir / name).is_dir():
                copy_tree(settings.data_dir / name, staging / name)
        policy = f"{POLICY_DIR}/{settings.policy_file.name}"
        write_file_atomically(staging / policy, settings.policy_file.read_bytes(), 0o600)
        manifest = Manifest(now, database, policy, {name: sha256_file(staging / name) for name in files_under(staging)})
        seal(staging, manifest, key)
        if dest.exists():
            dest.rmdir()
        staging.rename(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest
