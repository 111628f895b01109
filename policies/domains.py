"""The owned-domain index: which registered domain a DNS name equals or lies under.

A lookup walks the name's suffixes at label boundaries (`a.b.example.com`, `b.example.com`,
`example.com`, `com`), one dict probe each, so it costs O(labels) whatever the registry's size,
and `badexample.com` is never under `example.com`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from policies.names import base_name


class DomainMatch(NamedTuple):
    """The owned domain that covers a name: its registry id, the domain and its owner."""

    domain_id: int
    domain: str
    owner: str


class DomainIndex:
    """Owned domains by name (lowercase A-labels); a domain registered twice answers its oldest id."""

    def __init__(self, rows: Iterable[tuple[int, str, str]] = ()) -> None:
        self._by_name: dict[str, DomainMatch] = {}
        self._by_id: dict[int, str] = {}
        for domain_id, domain, owner in rows:
            self.add(domain_id, domain, owner)

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, domain_id: object) -> bool:
        return domain_id in self._by_id

    def add(self, domain_id: int, domain: str, owner: str) -> None:
        """Register `domain` under `domain_id` (idempotent for the same id)."""
        self._by_id[domain_id] = domain
        held = self._by_name.get(domain)
        if held is None or held.domain_id > domain_id:
            self._by_name[domain] = DomainMatch(domain_id, domain, owner)

    def remove(self, domain_id: int) -> None:
        """Forget the domain registered as `domain_id`; a no-op for an unknown id."""
        domain = self._by_id.pop(domain_id, None)
        held = self._by_name.get(domain) if domain is not None else None
        if held is not None and held.domain_id == domain_id:
            del self._by_name[held.domain]

    def lookup(self, name: str) -> DomainMatch | None:
        """The most specific owned domain that `name` (or a wildcard's base) equals or lies under."""
        get = self._by_name.get
        rest = base_name(name)
        while True:
            found = get(rest)
            if found is not None:
                return found
            dot = rest.find(".")
            if dot < 0:
                return None
            rest = rest[dot + 1:]

    def covers(self, name: str) -> bool:
        """True when an owned domain covers `name`."""
        return self.lookup(name) is not None
