"""Everything one process serves with, opened once from `Settings`."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric import ec

from service.audit.ledger import AuditLedger
from service.process.bootstrap import audit_key_path
from service.ca.authority import CertificateAuthority
from service.ca_roster import CaRoster
from service.ca.keystore import load_private_key
from service.ca.lint import Linter
from service.change_heads import ChangeHeads
from service.errors import CaError
from service.revocation import Revocation
from service.process.config import Settings
from service.db.session import Database
from service.issuance import Issuer
from service.judge import Judge
from service.policy_store import LoadedPolicy, load_policy
from service.caa import CaaResolver, parse_resolvers
from service.domain_registry import DomainRegistry
from service.public_suffixes import suffixes_for
from service.range_registry import RangeRegistry

log = logging.getLogger("certgate")

Clock = Callable[[], datetime]


@functools.cache
def shared_linter() -> Linter:
    """One linter per process, its validators built once (before gunicorn forks the workers)."""
    return Linter()


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
    domains: DomainRegistry
    judge: Judge
    issuer: Issuer
    ledger: AuditLedger
    revocation: Revocation
    clock: Clock

    @classmethod
    def open(cls, settings: Settings, *, clock: Clock = utc_now) -> Runtime:
        """Open the database, load the policy and the CA (which `certgate init` created).

        Raises:
            CaError: the CA files are missing or cannot be decrypted.
            TokenUnavailable: the CA keys are in a PKCS#11 token that is missing or locked.
            PolicyFileError: the policy file is invalid.
        """
        db = Database(settings.database_url)
        loaded = load_policy(settings.policy_file)
        ranges = RangeRegistry(db)
        domains = DomainRegistry(db)
        suffixes = suffixes_for(loaded.path, loaded.policy.names.public_suffix_file)
        caa = CaaResolver(parse_resolvers(settings.caa_resolvers))
        roster = CaRoster.load(db, settings.data_dir / "ca", settings.ca_passphrase, settings.base_url, settings.pkcs11)
        linter = shared_linter() if loaded.policy.lint_enabled else None
        log_key = load_private_key(audit_key_path(settings.data_dir), settings.ca_passphrase)
        if not isinstance(log_key, ec.EllipticCurvePrivateKey):
            raise CaError("the audit-log key must be an ECDSA P-256 key")
        revocation = Revocation(db, roster, loaded.policy, settings.data_dir, settings.ca_passphrase)
        for generation in roster.generations():
            revocation.responder(clock(), generation.id)
        judge = Judge(loaded, ranges, domains, suffixes, caa, ChangeHeads([ranges, domains]))
        return cls(settings, db, loaded, ranges, domains, judge, Issuer(roster, linter), AuditLedger(db, log_key),
                   revocation, clock)

    @property
    def roster(self) -> CaRoster:
        """Every issuing CA generation."""
        return self.issuer.roster

    @property
    def ca(self) -> CertificateAuthority:
        """The issuing CA that signs now (after a rollover, the new one).

        Raises:
            CaError, ServiceUnavailable: as `CaRoster.current`.
        """
        return self.issuer.roster.current(self.clock())

    def warm_up(self) -> None:
        """Build the owned-range index now, in gunicorn's master before it forks.

        The workers then start with it (its arrays shared copy-on-write, never written by a
        lookup) and replay only later changes, instead of each stalling its first request on a
        full build (about 4 s at a million ranges).
        """
        self.ranges.refresh()
        self.domains.refresh()
