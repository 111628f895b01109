"""The DNS-name rules of a decision: refused names, names outside the owned domains, the limit."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from policies.decision import Finding, Severity
from policies.names import name_refusal
from policies.suffixes import PublicSuffixes


class OwnedDomains(Protocol):
    """What the engine needs of the owned-domain registry: does an owned domain cover this name?"""

    def covers(self, name: str) -> bool: ...


def dns_findings(names: Iterable[str], owned: OwnedDomains, suffixes: PublicSuffixes | None, *,
                 allow_internal: bool = False) -> list[Finding]:
    """One finding per DNS name that is refused outright, or that no owned domain covers.

    A refused name (`name_not_allowed`: syntax, internal, public suffix) cannot be cured by a
    review. A wildcard outside every owned domain is refused too: a review may accept one
    foreign name, never a whole foreign zone. Any other name outside the owned domains is
    `dns_not_owned`, which opens an exception exactly as `ip_not_owned` does.
    """
    findings = []
    for name in names:
        refusal = name_refusal(name, suffixes, allow_internal=allow_internal)
        if refusal is not None:
            findings.append(Finding(f"name.{refusal.problem}", "name_not_allowed", refusal.message, name, Severity.REJECT))
        elif owned.covers(name):
            continue
        elif name.startswith("*."):
            findings.append(Finding("name.wildcard", "name_not_allowed",
                                    f"{name} is a wildcard outside every domain the organisation owns", name, Severity.REJECT))
        else:
            findings.append(Finding("dns.owned", "dns_not_owned",
                                    f"{name} is not under a domain the organisation owns", name, Severity.EXCEPTION))
    return findings


def names_limit_finding(count: int, max_names: int) -> Finding | None:
    """`too_many_names` when a certificate would carry more than `max_names` names."""
    if count <= max_names:
        return None
    return Finding("names.limit", "too_many_names",
                   f"the certificate would carry {count} names; the policy allows at most {max_names}", str(count),
                   Severity.REJECT)
