"""The bridge from a request to the pure engine: gathers context (ranges, domains, grants, CAA, time)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import ScalarSelect, Select, bindparam, select

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


def _compromised(index: int) -> ScalarSelect[str]:
    """The `index`-th key's SPKI digest if it was revoked for compromise, else NULL."""
    return select(_KEYS.c.spki_sha256).where(_KEYS.c.spki_sha256 == bindparam(f"spki_{index}")).scalar_subquery()


# Direct statements, built once: this runs for every request.
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
        # The first read of every decision (or chunk of decisions): the change-log heads, then whether
        # each key was revoked for compromise, in one statement (one round trip); one per chunk size.
        self._first_reads: dict[int, Select[Any]] = {}

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

        Dry runs, submissions and approvals all come here (`decide_many` with one), so they answer alike.

        Raises:
            ServiceUnavailable: the database cannot be reached.
        """
        return self.decide_many([facts], requester=requester, reads=reads, now=now)[0]

    def decide_many(self, chunk: Sequence[RequestFacts], *, requester: str, reads: DirectUnit,
                    now: datetime) -> list[Decision]:
        """The decision for each of `chunk`, in order, each exactly as `decide` makes it alone; the
        change-log heads and the compromised keys of the whole chunk are read in one statement.

        Raises:
            ServiceUnavailable: the database cannot be reached.
        """
        if not chunk:
            return []
        first = reads.first(self._first_read(len(chunk)), {f"spki_{i}": f.key.spki_sha256 for i, f in enumerate(chunk)})
        assert first is not None  # a SELECT without FROM answers one row
        heads = len(self.heads.columns)
        self.heads.apply(first[:heads])
        context = EvaluationContext(policy=self.loaded.policy, now=now, owned=self.owned, blocklist=self.loaded.blocklist,
                                    domains=self.domains.current_or_empty(), suffixes=self.suffixes)
        return [self._decide(facts, compromised is not None, context, requester, reads, now)
                for facts, compromised in zip(chunk, first[heads:])]

    def _first_read(self, count: int) -> Select[Any]:
        if count not in self._first_reads:
            columns: list[Any] = [*self.heads.columns, *(_compromised(i) for i in range(count))]
            self._first_reads[count] = select(*columns)
        return self._first_reads[count]

    def _decide(self, facts: RequestFacts, compromised: bool, context: EvaluationContext, requester: str,
                reads: DirectUnit, now: datetime) -> Decision:
        names = named_dns(facts)
        if compromised:
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
