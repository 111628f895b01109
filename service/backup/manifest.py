"""The backup manifest: every file's SHA-256, the whole signed with the audit-log key."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from service.ca.keystore import write_file_atomically
from service.errors import BackupRefused

FORMAT = "certgate-backup/1"
MANIFEST, SIGNATURE = "manifest.json", "manifest.sig"


@dataclass(frozen=True)
class Manifest:
    """What a backup holds: when it was taken, from which database kind, and every file's digest."""

    created_at: datetime
    database: str  # "sqlite" or "postgresql"
    policy_file: str  # the policy's path inside the backup
    files: dict[str, str]  # relative POSIX path -> SHA-256 (hex)

    def to_bytes(self) -> bytes:
        """The canonical JSON that is signed."""
        return json.dumps({"format": FORMAT, "created_at": self.created_at.isoformat(), "database": self.database,
                           "policy_file": self.policy_file, "files": self.files}, sort_keys=True, indent=1).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        """Parse a manifest.

        Raises:
            BackupRefused: not a certgate backup manifest, or one naming unsafe paths.
        """
        try:
            raw = json.loads(data)
            if raw.get("format") != FORMAT:
                raise BackupRefused(f"not a {FORMAT} manifest")
            manifest = cls(datetime.fromisoformat(raw["created_at"]), str(raw["database"]), str(raw["policy_file"]),
                           {str(k): str(v) for k, v in dict(raw["files"]).items()})
        except (ValueError, KeyError, TypeError, AttributeError):
            raise BackupRefused("the manifest is not valid JSON of the expected shape") from None
        for name in manifest.files:
            _safe(name)
        return manifest


def _safe(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise BackupRefused(f"the manifest names an unsafe path: {name!r}")
    return path


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def files_under(root: Path) -> list[str]:
    """Every regular file below `root` except the manifest and its signature, as sorted POSIX paths."""
    found = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
    return sorted(name for name in found if name not in (MANIFEST, SIGNATURE))


def seal(root: Path, manifest: Manifest, key: ec.EllipticCurvePrivateKey) -> None:
    """Write the manifest and its ECDSA signature into `root`."""
    data = manifest.to_bytes()
    write_file_atomically(root / MANIFEST, data, 0o600)
    write_file_atomically(root / SIGNATURE, key.sign(data, ec.ECDSA(hashes.SHA256())), 0o600)


def check(root: Path, public_key: ec.EllipticCurvePublicKey) -> Manifest:
    """The manifest of the backup at `root`, once its signature and every file's digest check out.

    Raises:
        BackupRefused: no or a forged manifest, a file missing, added or changed.
    """
    try:
        data, signature = (root / MANIFEST).read_bytes(), (root / SIGNATURE).read_bytes()
    except OSError:
        raise BackupRefused(f"{root} holds no signed manifest: not a certgate backup") from None
    try:
        public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise BackupRefused("the manifest's signature does not verify with the backup's audit-log key") from None
    manifest = Manifest.from_bytes(data)
    present = files_under(root)
    if missing := sorted(set(manifest.files) - set(present)):
        raise BackupRefused(f"file missing from the backup: {missing[0]}")
    if extra := sorted(set(present) - set(manifest.files)):
        raise BackupRefused(f"file not in the manifest: {extra[0]}")
    for name, digest in sorted(manifest.files.items()):
        if sha256_file(root / name) != digest:
            raise BackupRefused(f"file changed since the backup was taken: {name} (SHA-256 differs from the manifest)")
    return manifest
