"""Validity: the CA/Browser Forum schedule (ballot SC-081v3) and the policy's default and maximum."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from policies.config import Policy
from policies.decision import Severity
from policies.validity import cabf_max_validity_days, validity_decision

POLICY = Policy(version="sha256:test")  # default 90 days, maximum 200


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("issued_at", "days"),
    [
        ("2015-01-01T00:00:00Z", 398),
        ("2026-03-14T23:59:59Z", 398),
        ("2026-03-14T23:59:59.999999Z", 398),
        ("2026-03-15T00:00:00Z", 200),
        ("2027-03-14T23:59:59Z", 200),
        ("2027-03-15T00:00:00Z", 100),
        ("2029-03-14T23:59:59Z", 100),
        ("2029-03-15T00:00:00Z", 47),
        ("2040-01-01T00:00:00Z", 47),
        # The boundaries are UTC instants: 00:30 in UTC+1 is still 14 March in UTC ...
        ("2026-03-15T00:30:00+01:00", 398),
        # ... and 20:00 on 14 March in UTC-5 is already 15 March in UTC.
        ("2026-03-14T20:00:00-05:00", 200),
    ],
)
def test_cabf_schedule(issued_at: str, days: int) -> None:
    assert cabf_max_validity_days(at(issued_at)) == days


def test_cabf_schedule_refuses_naive_times() -> None:
    with pytest.raises(ValueError):
        cabf_max_validity_days(datetime(2026, 3, 15))


@pytest.mark.parametrize(
    ("requested", "policy", "now", "days", "refused"),
    [
        (None, POLICY, "2026-01-01T00:00:00Z", 90, False),
        (None, POLICY, "2029-03-15T00:00:00Z", 47, False),  # the default is capped, not refused
        (None, Policy(version="v", default_validity_days=30, max_validity_days=30), "2026-06-01T00:00:00Z", 30, False),
        (1, POLICY, "2029-03-15T00:00:00Z", 1, False),
        (200, POLICY, "2026-03-15T00:00:00Z", 200, False),
        (201, POLICY, "2026-03-15T00:00:00Z", 200, True),
        (200, POLICY, "2026-03-14T23:59:59Z", 200, False),
        (398, POLICY, "2026-03-14T23:59:59Z", 200, True),  # the policy's 200 binds before the schedule
        (398, Policy(version="v", max_validity_days=398), "2026-03-14T23:59:59Z", 398, False),
        (399, Policy(version="v", max_validity_days=500), "2026-03-14T23:59:59Z", 398, True),
        (100, POLICY, "2027-03-15T00:00:00Z", 100, False),
        (101, POLICY, "2027-03-15T00:00:00Z", 100, True),
        (100, POLICY, "2029-03-14T23:59:59Z", 100, False),
        (100, POLICY, "2029-03-15T00:00:00Z", 47, True),
        (47, POLICY, "2029-03-15T00:00:00Z", 47, False),
        (31, Policy(version="v", default_validity_days=30, max_validity_days=30), "2026-06-01T00:00:00Z", 30, True),
    ],
)
def test_validity_decision(requested: int | None, policy: Policy, now: str, days: int, refused: bool) -> None:
    effective, findings = validity_decision(requested, policy, at(now))
    assert effective == days
    if refused:
        (finding,) = findings
        assert (finding.rule, finding.code, finding.subject) == ("validity.max", "validity_too_long", "validity_days")
        assert finding.severity is Severity.REJECT
        assert str(requested) in finding.message and str(days) in finding.message
    else:
        assert findings == []


def test_message_says_which_limit_binds() -> None:
    _, (by_policy,) = validity_decision(
        60, Policy(version="v", default_validity_days=30, max_validity_days=30), at("2026-06-01T00:00:00Z")
    )
    assert "policy" in by_policy.message
    _, (by_forum,) = validity_decision(48, POLICY, at("2029-03-15T00:00:00Z"))
    assert "CA/Browser Forum" in by_forum.message and "2029-03-15" in by_forum.message


def test_message_dates_are_utc() -> None:
    # 20:00 on 14 March in UTC-5 is 15 March in UTC, where 200 days apply.
    _, (finding,) = validity_decision(300, Policy(version="v", max_validity_days=398), at("2026-03-14T20:00:00-05:00"))
    assert "2026-03-15" in finding.message


@pytest.mark.parametrize("requested", [0, -1])
def test_requests_below_one_day_are_errors(requested: int) -> None:
    with pytest.raises(ValueError):
        validity_decision(requested, POLICY, at("2026-06-01T00:00:00Z"))


@pytest.mark.parametrize("requested", [True, 90.0, "90"])
def test_requests_that_are_not_integers_are_errors(requested: object) -> None:
    with pytest.raises(TypeError):
        validity_decision(requested, POLICY, at("2026-06-01T00:00:00Z"))  # type: ignore[arg-type]


def test_naive_now_is_an_error() -> None:
    with pytest.raises(ValueError):
        validity_decision(None, POLICY, datetime(2026, 6, 1))


def test_every_day_of_the_schedule_agrees_with_the_table() -> None:
    start = datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=0)))
    expected = {
        datetime(2026, 3, 15, tzinfo=UTC): 200,
        datetime(2027, 3, 15, tzinfo=UTC): 100,
        datetime(2029, 3, 15, tzinfo=UTC): 47,
    }
    previous = 398
    for offset in range(4 * 366):
        day = start + timedelta(days=offset)
        current = cabf_max_validity_days(day)
        if current != previous:
            assert expected.pop(day) == current
        previous = current
    assert expected == {}
