"""Why an address fails the policy, in words an approver can act on: the IANA block, or the nearest owned ranges."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from policies.addresses import parse_ip, special_block
from policies.public_ip import AddressRule, is_public
from policies.range_rows import stored_first
from service.db.models import OwnedRange


@dataclass(frozen=True)
class AddressWhy:
    """One address of a request: its verdict, the special-purpose block it sits in, the owned ranges near it."""

    ip: str
    code: str
    block: str | None
    nearest: list[OwnedRange]


def explain_address(session: Session, ip_text: str, code: str, rule: AddressRule, *, nearest: int = 2) -> AddressWhy:
    """The reason behind one IP violation (`code` as the judge found it), under the policy's address rule."""
    ip = parse_ip(ip_text)
    if ip is None:
        return AddressWhy(ip_text, code, None, [])
    block = special_block(ip)
    block_text = f"{block.name} ({block.cidr}, {block.rfc})" if block is not None else None
    if not is_public(ip, rule):
        return AddressWhy(ip.text, code, block_text, [])
    return AddressWhy(ip.text, code, block_text, _nearest_ranges(session, ip.version, ip.value, nearest))


def _nearest_ranges(session: Session, version: int, value: int, limit: int) -> list[OwnedRange]:
    """The owned ranges starting just below and just above an address (same IP version)."""
    high, low = stored_first(version, value)
    same = OwnedRange.version == version
    first = (col(OwnedRange.first_high), col(OwnedRange.first_low))
    below = session.exec(select(OwnedRange).where(same, (OwnedRange.first_high < high) | (
        (OwnedRange.first_high == high) & (OwnedRange.first_low <= low))).order_by(first[0].desc(), first[1].desc()).limit(limit)).all()
    above = session.exec(select(OwnedRange).where(same, (OwnedRange.first_high > high) | (
        (OwnedRange.first_high == high) & (OwnedRange.first_low > low))).order_by(first[0], first[1]).limit(limit)).all()
    return [*reversed(below), *above]
