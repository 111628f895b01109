"""The bridge from a request to the pure engine: gathers context (ranges, domains, grants, CAA, time)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy import bindparam, select

from policies.caa import caa_refusal
from policies.config import Policy
from policies.decision import Decision, Finding, Severity, Verdict
from policies.engine import EvaluationContext, GrantFacts, OwnedRanges, evaluate, named_dns
from policies.facts import RequestFacts
from policies.names import name_not_allowed_reason
from policies.suffixes import PublicSuffixes
from service.caa import CaaResolver
from service.change_heads import ChangeHeads
from service.db.direct import DirectUnit
from service.db.models import CompromisedKey, Grant, table_of
from service.db.types import UtcDateTime
from service.domain_registry import DomainRegistry
from service.policy_store import LoadedPolicy


_GRANTS = table_of(Grant)
_KEYS = table_of(CompromisedKey)
# Direct statements, built once: this runs for every request.
_COMPROMISED = select(_KEYS.c.spki_sha256).where(_KEYS.c.spki_sha256 == bindparam("spki")).scalar_subquery()
_ACTIVE_GRANTS = select(_GRANTS.c.id, _GRANTS.c.ip_addresses, _GRANTS.c.dns_names, _GRANTS.c.expires_at).where(
    _GRANTS.c.requester == bindparam("requester"), _GRANTS.c.expires_at > bindparam("now", type_=UtcDateTime()))


class Judge:
    """Decides requests under one loaded policy against the live owned-range and owned-domain registries.

    `heads` are the in-memory registries' change logs (ranges and domains): each decision first
    catches up with them in its own read transaction (read-your-writes, `service.change_heads`).
    """

    def __init__(self, loaded: LoadedPolicy, owned: OwnedRanges, domains: DomainRegistry, suffixes: PublicSuffixes,
                 caa: CaaResolver | None = None, heads: ChangeHeads | None = None) -> None:
        self.loaded = loaded
        self.owned = owned
        self.domains = domains
        self.suffixes = suffixes
        self.caa = caa
        self.heads = heads or ChangeHeads(())
        # The first read of every decision: the change-log heads, then whether the key was revoked for
        # compromise, in one statement (one round trip).
        self._first_read = select(*self.heads.columns, _COMPROMISED)

    @property
    def policy(self) -> Policy:
        """The policy in force."""
        return self.loaded.policy

    def name_refusal(self, name: str) -> str | None:
        """Why `name` may never be certified (`name_not_allowed`: internal, a public suffix, bad
        syntax), or None; ownership is not judged here. The ACME edge asks this at new-order."""
        return name_not_allowed_reason(name, self.suffixes, allow_internal=self.policy.names.allow_internal)

    def decide(self, facts: RequestFacts, *, requester: str, reads: DirectUnit, now: datetime) -> Decision:
        """The decision for `facts`, counting the requester's active renewal grants and CAA.

        Dry runs, submissions and approvals all come here, so they answer alike.

        Raises:
            ServiceUnavailable: the database cannot be reached.
        """
        first = reads.first(self._first_read, {"spki": facts.key.spki_sha256})
        assert first is not None  # a SELECT without FROM answers one row
        self.heads.apply(first[:-1])
        names = named_dns(facts)
        context = EvaluationContext(policy=self.loaded.policy, now=now, owned=self.owned, blocklist=self.loaded.blocklist,
                                    domains=self.domains.current_or_empty(), suffixes=self.suffixes)
        if first[-1] is not None:
            context = replace(context, blocklist=context.blocklist | {facts.key.spki_sha256})
        decision = evaluate(facts, context)
        if decision.verdict is Verdict.EXCEPTION:
            # Grants only turn an exception into an issuance: look them up only then.
            decision = evaluate(facts, replace(context, grants=self._grants(requester, reads, now)))
        if names and self.policy.names.caa_enabled and decision.verdict is not Verdict.REJECT:
            decision = replace(decision, findings=(*decision.findings, *self._caa_findings(names)))
        return decision

    def _caa_findings(self, names: tuple[str, ...]) -> list[Finding]:
        """`caa_forbids` for every name whose CAA records do not authorise this CA (or cannot be read)."""
        resolver = self.caa or CaaResolver()
        identities = frozenset(self.policy.names.caa_identities)
        findings = []
        for name in names:
            lookup = resolver.lookup(name)
            why = caa_refusal(lookup, identities)
            if why is not None:
                rule = "caa.unresolved" if lookup.error else "caa.issue"
                findings.append(Finding(rule, "caa_forbids", why, name, Severity.REJECT))
        return findings

    @staticmethod
    def _grants(requester: str, reads: DirectUnit, now: datetime) -> tuple[GrantFacts, ...]:
        """The requester's grants still active at `now`."""
        grants = reads.rows(_ACTIVE_GRANTS, {"requester": requester, "now": now})
        return tuple(GrantFacts(grant_id, frozenset(ips), expires_at, frozenset(names or ()))
                     for grant_id, ips, names, expires_at in grants)
