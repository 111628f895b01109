"""The bridge from a request to the pure engine: gathers context (ranges, grants, time)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy import bindparam, select

from policies.config import Policy
from policies.decision import Decision, Verdict
from policies.engine import EvaluationContext, GrantFacts, OwnedRanges, evaluate
from policies.facts import RequestFacts
from service.db.direct import DirectUnit
from service.db.models import CompromisedKey, Grant, table_of
from service.db.types import UtcDateTime
from service.policy_store import LoadedPolicy


_GRANTS = table_of(Grant)
_KEYS = table_of(CompromisedKey)
# Direct statements, built once: this runs for every request.
_COMPROMISED = select(_KEYS.c.spki_sha256).where(_KEYS.c.spki_sha256 == bindparam("spki"))
_ACTIVE_GRANTS = select(_GRANTS.c.id, _GRANTS.c.ip_addresses, _GRANTS.c.expires_at).where(
    _GRANTS.c.requester == bindparam("requester"), _GRANTS.c.expires_at > bindparam("now", type_=UtcDateTime()))


class Judge:
    """Decides requests under one loaded policy against the live owned-range registry."""

    def __init__(self, loaded: LoadedPolicy, owned: OwnedRanges) -> None:
        self.loaded = loaded
        self.owned = owned

    @property
    def policy(self) -> Policy:
        """The policy in force."""
        return self.loaded.policy

    def decide(self, facts: RequestFacts, *, requester: str, reads: DirectUnit, now: datetime) -> Decision:
        """The decision for `facts`, counting the requester's active renewal grants."""
        context = EvaluationContext(policy=self.loaded.policy, now=now, owned=self.owned, blocklist=self.loaded.blocklist)
        if reads.first(_COMPROMISED, {"spki": facts.key.spki_sha256}) is not None:
            context = replace(context, blocklist=context.blocklist | {facts.key.spki_sha256})
        decision = evaluate(facts, context)
        if decision.verdict is Verdict.EXCEPTION:
            # Grants only turn an exception into an issuance: look them up only then.
            decision = evaluate(facts, replace(context, grants=self._grants(requester, reads, now)))
        return decision

    @staticmethod
    def _grants(requester: str, reads: DirectUnit, now: datetime) -> tuple[GrantFacts, ...]:
        """The requester's grants still active at `now`."""
        grants = reads.rows(_ACTIVE_GRANTS, {"requester": requester, "now": now})
        return tuple(GrantFacts(grant_id, frozenset(ips), expires_at) for grant_id, ips, expires_at in grants)
