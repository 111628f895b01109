"""Findings and decisions: the values every rule and the engine return."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Severity(StrEnum):
    """How a finding affects the verdict; `REJECT` outranks `EXCEPTION`."""

    EXCEPTION = "exception"
    REJECT = "reject"


class Verdict(StrEnum):
    """What happens to a request: issued now, sent to review, or refused."""

    ISSUE = "issue"
    EXCEPTION = "exception"
    REJECT = "reject"


@dataclass(frozen=True)
class Finding:
    """One violation: which rule, the contract's error code, a message and what it is about."""

    rule: str
    code: str
    message: str
    subject: str
    severity: Severity

    def as_dict(self) -> dict[str, str]:
        """The contract's violation shape."""
        return {"rule": self.rule, "code": self.code, "message": self.message, "subject": self.subject}


@dataclass(frozen=True)
class Decision:
    """The engine's answer: every finding, the verdict they imply, and what it was judged under.

    `named_ips` are all the addresses the certificate would name (normalised text), and
    `grant_id` is set when a renewal grant turned IP findings into an issuance.
    """

    findings: tuple[Finding, ...]
    policy_version: str
    validity_days: int
    named_ips: tuple[str, ...] = ()
    grant_id: str | None = None
    waived: tuple[Finding, ...] = field(default=())

    @property
    def verdict(self) -> Verdict:
        """The most severe finding decides; no finding means issue."""
        severities = {f.severity for f in self.findings}
        if Severity.REJECT in severities:
            return Verdict.REJECT
        if Severity.EXCEPTION in severities:
            return Verdict.EXCEPTION
        return Verdict.ISSUE

    @property
    def rejections(self) -> tuple[Finding, ...]:
        """The findings that refuse the request outright."""
        return tuple(f for f in self.findings if f.severity is Severity.REJECT)

    @property
    def exceptions(self) -> tuple[Finding, ...]:
        """The findings that send the request to human review."""
        return tuple(f for f in self.findings if f.severity is Severity.EXCEPTION)
