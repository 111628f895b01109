"""Settings: the one place that reads the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from policies.config import DEFAULT_POLICY_PATH

MAX_REQUEST_BYTES = 64 * 1024
# A batch's own limit: 1,000 CSRs of up to about 4 KiB each (RSA-4096 with many names), JSON-escaped.
MAX_BATCH_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """Everything the service is configured with; see the contract's configuration table."""

    data_dir: Path
    database_url: str
    policy_file: Path
    ca_passphrase: bytes | None
    base_url: str
    max_request_bytes: int = MAX_REQUEST_BYTES
    console_idle_minutes: int = 30
    console_lifetime_hours: int = 12
    max_batch_bytes: int = MAX_BATCH_BYTES
    caa_resolvers: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from `CERTGATE_*` variables, each with a working default."""
        env = os.environ if env is None else env
        data_dir = Path(env.get("CERTGATE_DATA_DIR", "./certgate-data")).resolve()
        database_url = env.get("CERTGATE_DATABASE_URL") or f"sqlite:///{data_dir / 'certgate.db'}"
        passphrase = env.get("CERTGATE_CA_PASSPHRASE")
        return cls(
            data_dir=data_dir,
            database_url=database_url,
            policy_file=Path(env.get("CERTGATE_POLICY_FILE") or DEFAULT_POLICY_PATH),
            ca_passphrase=passphrase.encode() if passphrase else None,
            base_url=env.get("CERTGATE_BASE_URL", "http://127.0.0.1:8000").rstrip("/"),
            console_idle_minutes=int(env.get("CERTGATE_CONSOLE_IDLE_MINUTES") or 30),
            console_lifetime_hours=int(env.get("CERTGATE_CONSOLE_LIFETIME_HOURS") or 12),
            max_batch_bytes=int(env.get("CERTGATE_MAX_BATCH_BYTES") or MAX_BATCH_BYTES),
            caa_resolvers=env.get("CERTGATE_CAA_RESOLVERS", ""),
        )
