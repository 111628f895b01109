"""SoftHSM2 as the real PKCS#11 token of the HSM tests: a temporary token directory per test process.

SoftHSM reads SOFTHSM2_CONF once, when the module is initialised, and sees the tokens present
then: so each test process makes one directory and one token before anything loads the module,
and tests keep apart by key labels (`labels()`), not by tokens.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from service.audit.treehead import generate_log_key
from service.ca.ceremony import KeyCeremony, init_token_ca
from service.ca.hsm import TokenConfig
from service.ca.keystore import CaKeyType, write_private_key
from service.process.bootstrap import audit_key_path

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
TOKEN_LABEL = "certgate-tests"
PIN = "246810"
SO_PIN = "13579135"


@dataclass(frozen=True)
class SoftHsm:
    """The token every HSM test of this process uses, and the environment that names it."""

    conf: Path

    def config(self, prefix: str, *, ocsp: bool = False, pin: str = PIN, module: str = MODULE) -> TokenConfig:
        """A token configuration whose key labels start with `prefix` (unique per test)."""
        return TokenConfig(module=module, token_label=TOKEN_LABEL, pin=pin, root_label=f"{prefix}-root",
                           issuing_label=f"{prefix}-issuing", ocsp_label=f"{prefix}-ocsp" if ocsp else None)

    def env(self, config: TokenConfig) -> dict[str, str]:
        """The CERTGATE_PKCS11_* variables (and SOFTHSM2_CONF) for `config`."""
        env = {"SOFTHSM2_CONF": str(self.conf), "CERTGATE_PKCS11_MODULE": config.module,
               "CERTGATE_PKCS11_TOKEN": config.token_label, "CERTGATE_PKCS11_PIN": config.pin,
               "CERTGATE_PKCS11_ROOT_LABEL": config.root_label,
               "CERTGATE_PKCS11_ISSUING_LABEL": config.issuing_label}
        if config.ocsp_label:
            env["CERTGATE_PKCS11_OCSP_LABEL"] = config.ocsp_label
        return env


def unique_prefix() -> str:
    """Key labels no other test uses."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHsm]:
    """One SoftHSM2 token directory and token for this test process (SOFTHSM2_CONF set for it)."""
    if not Path(MODULE).exists() or shutil.which("softhsm2-util") is None:
        if os.environ.get("CI"):
            pytest.fail("softhsm2 is not installed: .ci/run installs it")
        pytest.skip("softhsm2 is not installed (apt-get install softhsm2)")
    home = tmp_path_factory.mktemp("softhsm")
    (home / "tokens").mkdir()
    conf = home / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {home / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)  # before the module is loaded in this process
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", TOKEN_LABEL, "--so-pin", SO_PIN,
                    "--pin", PIN], check=True, capture_output=True, env={**os.environ})
    yield SoftHsm(conf)
    if previous is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = previous


def make_hsm_home(home: Path, config: TokenConfig, base_url: str,
                  key_type: CaKeyType = CaKeyType.P256) -> KeyCeremony:
    """A data dir whose CA keys were generated in the token (as `init --hsm`), plus an audit-log key."""
    ceremony = init_token_ca(home / "ca", key_type, config, datetime.now(UTC), base_url)
    assert ceremony is not None
    path = audit_key_path(home)
    path.parent.mkdir(mode=0o700, parents=True)
    write_private_key(path, generate_log_key(), None)
    return ceremony
