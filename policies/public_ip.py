"""Which IP addresses are public: the Baseline Requirements' rule by default, or the registries' reachability column.

`AddressRule.BASELINE_REQUIREMENTS` (the default): the CA/Browser Forum Baseline Requirements
define a Reserved IP Address as any address inside any entry of the IANA IPv4 or IPv6
Special-Purpose Address Registries, whatever that entry's "Globally Reachable" column says, and
forbid them in certificates. So 192.0.0.9 (PCP anycast), AMT, AS112, the NAT64 prefixes, the
IPv4-mapped block and all of 2001::/23 are not public. Multicast and the space IANA has not
allocated (the address-space rows of `policies.special_purpose`) stay refused too.

`AddressRule.GLOBALLY_REACHABLE` (private-trust deployments): the registries' column decides, with
the most specific entry winning and the refinements described in `policies.addresses`
(an IPv4-mapped or NAT64 address is judged by the IPv4 address it embeds).

Either way the verdict comes from the project's own table, never from Python's `ipaddress`
flags, so it is the same on every interpreter; every later step (the linter included) follows it.
"""

from __future__ import annotations

from enum import StrEnum

from policies import special_purpose as sp
from policies.addresses import IpAddress, parse_ip, special_block, unreachable_reason

REGISTRY_TITLES = {
    sp.IPV4_SPECIAL: "IANA IPv4 Special-Purpose Address Registry",
    sp.IPV6_SPECIAL: "IANA IPv6 Special-Purpose Address Registry",
    sp.IPV4_SPACE: "IANA IPv4 Address Space Registry",
    sp.IPV6_SPACE: "IANA IPv6 Address Space Registry",
}


class AddressRule(StrEnum):
    """How the policy decides that an address is public (`[addresses] rule` in the policy file)."""

    BASELINE_REQUIREMENTS = "baseline-requirements"
    GLOBALLY_REACHABLE = "globally-reachable"


def not_public_reason(ip: IpAddress | str, rule: AddressRule) -> str | None:
    """Why `ip` may not be named in a certificate under `rule`, naming the registry entry; None when it may.

    Raises:
        ValueError: `ip` is text that is not a strict IP literal.
    """
    if rule is AddressRule.GLOBALLY_REACHABLE:
        return unreachable_reason(ip)
    address = ip if isinstance(ip, IpAddress) else parse_ip(ip)
    if address is None:
        raise ValueError(f"not an IP address literal: {ip!r}")
    block = special_block(address)
    if block is None:
        return None
    kind = "a Reserved IP Address" if block.registry in (sp.IPV4_SPECIAL, sp.IPV6_SPECIAL) else "not assignable unicast space"
    return f"{address.text} is {kind}: inside {block.cidr} ({block.name}, {block.rfc}) of the {REGISTRY_TITLES[block.registry]}"


def is_public(ip: IpAddress | str, rule: AddressRule) -> bool:
    """Whether a certificate may name `ip` under `rule` (ownership aside).

    Raises:
        ValueError: `ip` is text that is not a strict IP literal.
    """
    return not_public_reason(ip, rule) is None
