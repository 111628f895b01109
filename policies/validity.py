"""Validity rules: the default lifetime and the CA/Browser Forum maximum on the issue date."""

from __future__ import annotations

from datetime import UTC, datetime

from policies.config import Policy
from policies.decision import Finding, Severity

# Ballot SC-081v3: maximum validity by issue date (UTC), newest first.
CABF_SCHEDULE: tuple[tuple[datetime, int], ...] = (
    (datetime(2029, 3, 15, tzinfo=UTC), 47),
    (datetime(2027, 3, 15, tzinfo=UTC), 100),
    (datetime(2026, 3, 15, tzinfo=UTC), 200),
)
CABF_BEFORE_SCHEDULE = 398


def cabf_max_validity_days(issued_at: datetime) -> int:
    """The longest validity the Baseline Requirements allow for a certificate issued at `issued_at`."""
    for start, days in CABF_SCHEDULE:
        if issued_at >= start:
            return days
    return CABF_BEFORE_SCHEDULE


def validity_decision(requested_days: int | None, policy: Policy, now: datetime) -> tuple[int, list[Finding]]:
    """The validity a request gets, and a `validity_too_long` finding when it asks for too much.

    The default is capped to the maximum in force, so an unchanged policy file keeps issuing
    when the CA/B schedule tightens.

    Raises:
        ValueError: `requested_days` below 1 (the API schema refuses it before this point).
    """
    maximum = min(policy.max_validity_days, cabf_max_validity_days(now))
    if requested_days is None:
        return min(policy.default_validity_days, maximum), []
    if requested_days < 1:
        raise ValueError("validity must be at least one day")
    if requested_days > maximum:
        finding = Finding("validity.max", "validity_too_long",
                          f"{requested_days} days exceeds the maximum of {maximum} days for certificates issued now",
                          "validity_days", Severity.REJECT)
        return maximum, [finding]
    return requested_days, []
