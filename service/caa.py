"""CAA lookups with dnspython (RFC 8659): the relevant record set of a name, climbing the tree.

Each step asks for CAA at one node (the resolver follows CNAMEs, as RFC 8659 wants); the first
non-empty record set is the relevant one. A name that does not exist climbs on; a SERVFAIL, a
timeout or a refused query ends the lookup with an error, which the policy turns into a refusal
(never a silent pass).
"""

from __future__ import annotations

from collections.abc import Sequence

import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver

from policies.caa import CaaLookup, CaaRecord

DEFAULT_LIFETIME = 5.0


def parse_resolvers(text: str) -> tuple[tuple[str, int], ...]:
    """`host[:port],...` (IPv6 in brackets: `[::1]:53`) into (address, port) pairs.

    Raises:
        ValueError: a port that is not a number.
    """
    out = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if item.startswith("["):
            host, _, rest = item[1:].partition("]")
            port = rest.lstrip(":") or "53"
        elif item.count(":") == 1:
            host, port = item.split(":")
        else:
            host, port = item, "53"
        out.append((host, int(port)))
    return tuple(out)


class CaaResolver:
    """Looks up CAA through the system's resolvers, or through the given (address, port) pairs."""

    def __init__(self, nameservers: Sequence[tuple[str, int]] = (), *, lifetime: float = DEFAULT_LIFETIME) -> None:
        self._nameservers = tuple(nameservers)
        self._lifetime = lifetime
        self._made: dns.resolver.Resolver | None = None

    def _resolver(self) -> dns.resolver.Resolver:
        """The dnspython resolver, made on first use (the system's reads /etc/resolv.conf).

        Raises:
            dns.resolver.NoResolverConfiguration: no resolver given and none configured.
        """
        if self._made is None:
            resolver = dns.resolver.Resolver(configure=not self._nameservers)
            if self._nameservers:
                resolver.nameservers = [host for host, _ in self._nameservers]
                resolver.nameserver_ports = {host: port for host, port in self._nameservers}
            resolver.lifetime = resolver.timeout = self._lifetime
            self._made = resolver
        return self._made

    def lookup(self, name: str) -> CaaLookup:
        """The relevant CAA record set for `name` (a wildcard is looked up at its base)."""
        base = name[2:] if name.startswith("*.") else name
        try:
            resolver = self._resolver()
        except dns.exception.DNSException as exc:
            return CaaLookup(name, error=f"no DNS resolver is configured ({type(exc).__name__})")
        labels = base.split(".")
        for start in range(len(labels)):
            node = ".".join(labels[start:])
            try:
                answer = resolver.resolve(dns.name.from_text(node), dns.rdatatype.CAA, raise_on_no_answer=False)
            except dns.resolver.NXDOMAIN:
                continue
            except dns.resolver.NoNameservers:
                return CaaLookup(name, error=f"no resolver answered for {node}: SERVFAIL or REFUSED")
            except dns.exception.Timeout:
                return CaaLookup(name, error=f"the CAA query for {node} timed out")
            except dns.exception.DNSException as exc:
                return CaaLookup(name, error=f"the CAA query for {node} failed: {type(exc).__name__}")
            if answer.rrset is not None and len(answer.rrset):
                records = tuple(CaaRecord(int(r.flags), r.tag.decode("ascii", "replace"), r.value.decode("utf-8", "replace"))
                                for r in answer.rrset)
                return CaaLookup(name, owner=node, records=records)
        return CaaLookup(name)
