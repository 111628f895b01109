"""The policy engine: every rule over one request's facts, folded into one `Decision`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from policies.addresses import IpAddress, ip_subject_for_owner, parse_ip, parse_ip_lenient
from policies.config import Policy
from policies.public_ip import AddressRule, not_public_reason
from policies.decision import Decision, Finding, Severity
from policies.facts import RequestFacts
from policies.domains import DomainIndex
from policies.keys import key_findings
from policies.name_rules import OwnedDomains, dns_findings, names_limit_finding
from policies.suffixes import PublicSuffixes
from policies.validity import validity_decision
from policies.weakkeys import weak_key_findings


class OwnedRanges(Protocol):
    """What the engine needs of the owned-range registry: does an owned range cover this IP?"""

    def covers(self, ip: IpAddress) -> bool: ...


@dataclass(frozen=True)
class GrantFacts:
    """An active renewal grant of the requester: the IPs and DNS names it covers and until when."""

    id: str
    ip_addresses: frozenset[str]
    expires_at: datetime
    dns_names: frozenset[str] = frozenset()


@dataclass(frozen=True)
class EvaluationContext:
    """Everything besides the request that a decision depends on."""

    policy: Policy
    now: datetime
    owned: OwnedRanges
    blocklist: frozenset[str] = frozenset()
    grants: tuple[GrantFacts, ...] = field(default=())
    domains: OwnedDomains = field(default_factory=DomainIndex)
    suffixes: PublicSuffixes | None = None


def named_ips(facts: RequestFacts) -> tuple[IpAddress, ...]:
    """Every IP the certificate would name: SAN iPAddresses and IP literals in the CN or dNSNames.

    Names are read as a lenient client would (`010.0.0.1` is 8.0.0.1 to a browser), so a name
    that some client takes for an address is judged as that address.
    """
    seen: dict[str, IpAddress] = {}
    found = [parse_ip(text) for text in facts.ip_addresses]
    names = [*facts.dns_names, *([facts.common_name] if facts.common_name else [])]
    found += [parse_ip(text) or parse_ip_lenient(text) for text in names]
    for ip in found:
        if ip is not None and ip.text not in seen:
            seen[ip.text] = ip
    return tuple(seen.values())


def named_dns(facts: RequestFacts) -> tuple[str, ...]:
    """Every DNS name the certificate would carry (the CN folded in), IP literals left to `named_ips`."""
    names = [*facts.dns_names, *([facts.common_name] if facts.common_name else [])]
    return tuple(dict.fromkeys(n for n in names if parse_ip(n) is None and parse_ip_lenient(n) is None))


def ip_findings(ips: tuple[IpAddress, ...], owned: OwnedRanges,
                rule: AddressRule = AddressRule.BASELINE_REQUIREMENTS) -> list[Finding]:
    """One finding per IP that is not public under `rule`, or public but not inside an owned range."""
    findings = []
    for ip in ips:
        reason = not_public_reason(ip, rule)
        if reason is not None:
            findings.append(Finding("ip.public", "ip_not_public", reason, ip.text, Severity.EXCEPTION))
        elif not owned.covers(ip_subject_for_owner(ip)):
            findings.append(
                Finding("ip.owned", "ip_not_owned", f"{ip.text} is not inside a range the organisation owns", ip.text, Severity.EXCEPTION)
            )
    return findings


def _covering_grant(findings: list[Finding], ctx: EvaluationContext) -> GrantFacts | None:
    """The first active grant that covers every IP and DNS-name finding, if any."""
    subjects = {f.subject for f in findings}
    for grant in ctx.grants:
        if grant.expires_at > ctx.now and subjects <= grant.ip_addresses | grant.dns_names:
            return grant
    return None


def evaluate(facts: RequestFacts, ctx: EvaluationContext) -> Decision:
    """Judge a request: all findings, the validity it gets, and any grant that covers it."""
    policy = ctx.policy
    findings: list[Finding] = key_findings(facts.key, policy.keys)
    findings += weak_key_findings(facts.key, policy.weak_keys, ctx.blocklist)
    days, validity = validity_decision(facts.requested_validity_days, policy, ctx.now)
    findings += validity
    ips = named_ips(facts)
    names = named_dns(facts)
    too_many = names_limit_finding(len(names) + len(ips), policy.names.max_names)
    if too_many is not None:
        # Judge no name one by one: a refusal of 1,500 names needs one finding, not 1,500.
        return Decision((*findings, too_many), policy.version, days, tuple(ip.text for ip in ips))
    name_findings = dns_findings(names, ctx.domains, ctx.suffixes, allow_internal=policy.names.allow_internal)
    findings += [f for f in name_findings if f.severity is Severity.REJECT]
    # The findings a review (or a grant) may accept: IPs outside the owned ranges, names outside the owned domains.
    address_findings = ip_findings(ips, ctx.owned, policy.address_rule)
    address_findings += [f for f in name_findings if f.severity is Severity.EXCEPTION]
    grant = None
    if address_findings and not findings:
        grant = _covering_grant(address_findings, ctx)
    named = tuple(ip.text for ip in ips)
    if grant is not None:
        return Decision((*findings,), policy.version, days, named, grant.id, waived=tuple(address_findings))
    return Decision((*findings, *address_findings), policy.version, days, named)
