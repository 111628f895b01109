"""CAA (RFC 8659, BR 3.2.2.8): may this CA issue for a name, given the relevant CAA record set?

The service looks the records up (climbing the tree, following CNAMEs) and hands in what it
found as plain values; the judgement here is pure.
"""

from __future__ import annotations

from dataclasses import dataclass

KNOWN_TAGS = frozenset({"issue", "issuewild", "iodef", "contactemail", "contactphone", "issuemail", "issuevmc"})


@dataclass(frozen=True)
class CaaRecord:
    """One CAA resource record: flags (128 is the critical bit), tag and value."""

    flags: int
    tag: str
    value: str

    def text(self) -> str:
        """The record in zone-file presentation form, for messages."""
        return f'{self.flags} {self.tag} "{self.value}"'


@dataclass(frozen=True)
class CaaLookup:
    """What the service found for one name: the relevant record set and where, or a failure.

    `owner` is the domain whose (non-empty) record set is relevant, None when no domain up the
    tree has one; `error` says why the lookup could not be completed (then nothing else counts).
    """

    name: str
    owner: str | None = None
    records: tuple[CaaRecord, ...] = ()
    error: str | None = None


def issuer_domain(value: str) -> str:
    """The issuer-domain-name of an `issue`/`issuewild` value (before any `;` parameters)."""
    return value.split(";", 1)[0].strip().lower().rstrip(".")


def caa_refusal(lookup: CaaLookup, identities: frozenset[str]) -> str | None:
    """Why the records forbid this CA (known by `identities`, lowercase domains) to issue, or None.

    RFC 8659: no relevant record set permits any CA; an unknown tag with the critical flag
    forbids; for a wildcard name `issuewild` records, when there are any, replace `issue` ones;
    otherwise only an `issue` record naming one of our identities permits.
    """
    if lookup.error is not None:
        return f"CAA for {lookup.name} could not be checked ({lookup.error}); issuance waits until it can"
    if lookup.owner is None or not lookup.records:
        return None
    for record in lookup.records:
        if record.flags & 128 and record.tag.lower() not in KNOWN_TAGS:
            return f"CAA at {lookup.owner} has a critical record this CA does not understand: {record.text()}"
    wildcard = lookup.name.startswith("*.")
    issue = [r for r in lookup.records if r.tag.lower() == "issue"]
    wild = [r for r in lookup.records if r.tag.lower() == "issuewild"]
    relevant = wild if wildcard and wild else issue
    if not relevant:
        return None  # only iodef or other tags: no restriction on issuance
    if any(issuer_domain(r.value) in identities for r in relevant):
        return None
    shown = "; ".join(r.text() for r in relevant)
    return f"CAA at {lookup.owner} does not authorise this CA ({', '.join(sorted(identities)) or 'no identity'}) for {lookup.name}: {shown}"
