"""Settings: the one place that reads the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from policies.config import DEFAULT_POLICY_PATH
from service.ca.hsm import TokenConfig

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
    pkcs11: TokenConfig | None = None  # CA keys in a PKCS#11 token (`init --hsm`); None: file keys
    acme_validation_port: int = 80
    acme_validation_hosts: Mapping[str, str] = field(default_factory=dict)
    acme_ari_retry_seconds: int = 3600
    acme_tls_alpn_port: int = 443
    acme_challenge_wait_seconds: float = 1.0  # a challenge POST waits this long for its validation (at most 10 s)

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
            pkcs11=_token_config(env),
            acme_validation_port=int(env.get("CERTGATE_ACME_VALIDATION_PORT") or 80),
            acme_validation_hosts=_name_map(env.get("CERTGATE_ACME_VALIDATION_HOSTS", "")),
            acme_ari_retry_seconds=int(env.get("CERTGATE_ACME_ARI_RETRY_SECONDS") or 3600),
            acme_tls_alpn_port=int(env.get("CERTGATE_ACME_TLS_ALPN_PORT") or 443),
            acme_challenge_wait_seconds=min(10.0, max(0.0, float(env.get("CERTGATE_ACME_CHALLENGE_WAIT_SECONDS") or 1.0))),
        )


def _token_config(env: Mapping[str, str]) -> TokenConfig | None:
    """The PKCS#11 token from `CERTGATE_PKCS11_*`, or None when no module is set.

    The PIN comes from CERTGATE_PKCS11_PIN or, better (it stays out of the process environment
    that `ps e` and crash reports show), from the file named by CERTGATE_PKCS11_PIN_FILE.

    Raises:
        ValueError: a module without a token label or a PIN, or an unreadable PIN file.
    """
    module = env.get("CERTGATE_PKCS11_MODULE")
    if not module:
        return None
    token = env.get("CERTGATE_PKCS11_TOKEN")
    if not token:
        raise ValueError("CERTGATE_PKCS11_MODULE is set but CERTGATE_PKCS11_TOKEN (the token label) is not")
    pin = env.get("CERTGATE_PKCS11_PIN")
    pin_file = env.get("CERTGATE_PKCS11_PIN_FILE")
    if pin_file:
        try:
            pin = Path(pin_file).read_text().strip()
        except OSError as exc:
            raise ValueError(f"cannot read CERTGATE_PKCS11_PIN_FILE {pin_file}: {exc.strerror}") from None
    if not pin:
        raise ValueError("set CERTGATE_PKCS11_PIN or CERTGATE_PKCS11_PIN_FILE for the PKCS#11 token")
    return TokenConfig(
        module=module, token_label=token, pin=pin,
        root_label=env.get("CERTGATE_PKCS11_ROOT_LABEL") or "certgate-root",
        issuing_label=env.get("CERTGATE_PKCS11_ISSUING_LABEL") or "certgate-issuing",
        ocsp_label=env.get("CERTGATE_PKCS11_OCSP_LABEL") or None,
    )


def _name_map(text: str) -> dict[str, str]:
    """`name=address,...` (tests and labs: where ACME validation connects for a name) as a dict."""
    pairs = (item.split("=", 1) for item in text.split(",") if "=" in item)
    return {name.strip().lower(): address.strip() for name, address in pairs}
