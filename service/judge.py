"""The bridge from a request to the pure engine: gathers context (ranges, grants, time)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy import bindparam, select

from policies.config import Policy
from policies.decision import Decision, Verdict
from policies.engine import EvaluationContext, GrantFacts, OwnedRanges, evaluate
from policies.facts import RequestFacts
from service.change_heads import ChangeHeads
from service.db.direct import DirectUnit
from service.db.models import CompromisedKey, Grant, table_of
from service.db.types import UtcDateTime
from service.policy_store import LoadedPolicy


_GRANTS = table_of(Grant)
_KEYS = table_of(CompromisedKey)
# Direct statements, built once: this runs for every request.
_COMPROMISED = select(_KEYS.c.spki_sha256).where(_KEYS.c.spki_sha256 == bindparam("spki")).scalar_subquery()
_ACTIVE_GRANTS = select(_GRANTS.c.id, _GRANTS.c.ip_addresses, _GRANTS.c.expires_at).where(
    _GRANTS.c.requester == bindparam("requester"), _GRANTS.c.expires_at > bindparam("now", type_=UtcDateTime()))


class Judge:
    """Decides requests under one loaded policy against the live owned-range registry.

    `heads` are the in-memory registries' change logs: each decision first catches up with
    them in its own read transaction (read-your-writes, `service.change_heads`).
    """

    def __init__(self, loaded: LoadedPolicy, owned: OwnedRanges, heads: ChangeHeads | None = None) -> None:
        self.loaded = loaded
        self.owned = owned
        self.heads = heads or ChangeHeads(())
        # The first read of every decision: the change-log heads, then whether the key was revoked for
        # compromise, in one statement (one round trip).
        self._first_read = select(*self.heads.columns, _COMPROMISED)

    @property
    def policy(self) -> Policy:
        """The policy in force."""
        return self.loaded.policy

    def decide(self, facts: RequestFacts, *, requester: str, reads: DirectUnit, now: datetime) -> Decision:
        """The decision for `facts`, counting the requester's active renewal grants.

        Raises:
            ServiceUnavailable: the database cannot be reached.
        """
        first = reads.first(self._first_read, {"spki": facts.key.spki_sha256})
        assert first is not None  # a SELECT without FROM answers one row
        self.heads.apply(first[:-1])
        context = EvaluationContext(policy=self.loaded.policy, now=now, owned=self.owned, blocklist=self.loaded.blocklist)
        if first[-1] is not None:
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
