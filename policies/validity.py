"""Certificate lifetime: the CA/Browser Forum maximum (ballot SC-081v3) and the policy's own limits."""

from __future__ import annotations

from datetime import UTC, datetime

from policies.config import Policy
from policies.decision import Finding, Severity

# Ballot SC-081v3: the longest validity for a certificate issued on or after each date (UTC),
# newest first; before the first step the Baseline Requirements allowed 398 days.
CABF_SCHEDULE: tuple[tuple[datetime, int], ...] = (
    (datetime(2029, 3, 15, tzinfo=UTC), 47),
    (datetime(2027, 3, 15, tzinfo=UTC), 100),
    (datetime(2026, 3, 15, tzinfo=UTC), 200),
)
CABF_MAX_BEFORE_SCHEDULE = 398


def cabf_max_validity_days(issued_at: datetime) -> int:
    """The CA/Browser Forum's longest validity in days for a certificate issued at `issued_at`.

    Raises:
        ValueError: `issued_at` is naive; a boundary instant is meaningless without a zone.
    """
    if issued_at.tzinfo is None or issued_at.utcoffset() is None:
        raise ValueError("issued_at must be timezone-aware")
    for start, days in CABF_SCHEDULE:
        if issued_at >= start:
            return days
    return CABF_MAX_BEFORE_SCHEDULE


def validity_decision(requested_days: int | None, policy: Policy, now: datetime) -> tuple[int, list[Finding]]:
    """The validity a request gets, and a `validity_too_long` finding when it asks for too much.

    Without a request the policy default applies, capped to the maximum in force (the lower of
    the policy's and the CA/B Forum's at `now`), so a default never yields a finding. A request
    above that maximum is refused; the days returned are then capped too, so that no caller can
    issue beyond the limit even by ignoring the verdict.

    Raises:
        ValueError: `requested_days` is below 1 (the API schema refuses such requests first),
            or `now` is naive.
        TypeError: `requested_days` is not an integer (a bool counts as not one).
    """
    cabf_days = cabf_max_validity_days(now)
    ceiling = min(policy.max_validity_days, cabf_days)
    if requested_days is None:
        return min(policy.default_validity_days, ceiling), []
    if isinstance(requested_days, bool) or not isinstance(requested_days, int):
        raise TypeError(f"validity_days must be an integer, got {requested_days!r}")
    if requested_days < 1:
        raise ValueError(f"validity_days must be at least 1, got {requested_days}")
    if requested_days <= ceiling:
        return requested_days, []
    if policy.max_validity_days < cabf_days:
        reason = f"the policy allows at most {ceiling} days"
    else:
        reason = f"the CA/Browser Forum allows at most {ceiling} days for certificates issued on {now.astimezone(UTC).date().isoformat()}"
    finding = Finding(
        rule="validity.max",
        code="validity_too_long",
        message=f"{requested_days} days of validity requested; {reason}",
        subject="validity_days",
        severity=Severity.REJECT,
    )
    return ceiling, [finding]
