"""Settings: the one place that reads the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from policies.config import DEFAULT_POLICY_PATH

MAX_REQUEST_BYTES = 64 * 1024


@dataclass(frozen=True)
class Settings:
    """Everything the service is configured with; see the contract's configuration table."""

    data_dir: Path
    database_url: str
    policy_file: Path
    ca_passphrase: bytes | None
    base_url: str
    max_request_bytes: int = MAX_REQUEST_BYTES
    acme_validation_port: int = 80
    acme_validation_hosts: Mapping[str, str] = field(default_factory=dict)
    acme_ari_retry_seconds: int = 3600
    acme_tls_alpn_port: int = 443

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
            acme_validation_port=int(env.get("CERTGATE_ACME_VALIDATION_PORT") or 80),
            acme_validation_hosts=_name_map(env.get("CERTGATE_ACME_VALIDATION_HOSTS", "")),
            acme_ari_retry_seconds=int(env.get("CERTGATE_ACME_ARI_RETRY_SECONDS") or 3600),
            acme_tls_alpn_port=int(env.get("CERTGATE_ACME_TLS_ALPN_PORT") or 443),
        )


def _name_map(text: str) -> dict[str, str]:
    """`name=address,...` (tests and labs: where ACME validation connects for a name) as a dict."""
    pairs = (item.split("=", 1) for item in text.split(",") if "=" in item)
    return {name.strip().lower(): address.strip() for name, address in pairs}
