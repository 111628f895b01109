"""Everything one process serves with, opened once from `Settings`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from service.ca.authority import CertificateAuthority
from service.ca.lint import Linter
from service.config import Settings
from service.db.session import Database
from service.issuance import Issuer
from service.judge import Judge
from service.policy_store import LoadedPolicy, load_policy
from service.range_registry import RangeRegistry

log = logging.getLogger("certgate")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The wall clock, in UTC: the default `Clock`."""
    return datetime.now(UTC)


@dataclass
class Runtime:
    """The composition of one process: settings, database, policy, CA, registry, clock."""

    settings: Settings
    db: Database
    loaded_policy: LoadedPolicy
    ranges: RangeRegistry
    judge: Judge
    issuer: Issuer
    clock: Clock

    @classmethod
    def open(cls, settings: Settings, *, clock: Clock = utc_now) -> Runtime:
        """Open the database, load the policy and the CA (which `certgate init` created).

        Raises:
            CaError: the CA files are missing or cannot be decrypted.
            PolicyFileError: the policy file is invalid.
        """
        db = Database(settings.database_url)
        loaded = load_policy(settings.policy_file)
        ranges = RangeRegistry(db)
        ca = CertificateAuthority.load(settings.data_dir / "ca", settings.ca_passphrase, settings.base_url)
        linter = Linter() if loaded.policy.lint_enabled else None
        return cls(settings, db, loaded, ranges, Judge(loaded, ranges), Issuer(ca, linter), clock)

    @property
    def ca(self) -> CertificateAuthority:
        """The local CA."""
        return self.issuer.ca
