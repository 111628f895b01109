"""What pages share: paging from the query string, UTC times with a relative hint, form values kept."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import request, url_for

from policies.addresses import parse_ip, special_block

from service.errors import BadRequest
from service.web.blueprint import DEFAULT_PER_PAGE, MAX_PER_PAGE


@dataclass(frozen=True)
class Paging:
    """Which page a list shows, and how to link to its neighbours (filters kept)."""

    page: int
    per_page: int
    total: int = 0

    @property
    def pages(self) -> int:
        """How many pages there are (at least one)."""
        return max(1, -(-self.total // self.per_page))

    def with_total(self, total: int) -> Paging:
        """The same page, knowing the total."""
        return Paging(self.page, self.per_page, total)

    def link(self, page: int) -> str:
        """This page's URL with another page number, every other argument kept."""
        args: dict[str, Any] = {k: v for k, v in request.args.items() if k != "page" and v != ""}
        return url_for(str(request.endpoint), **(request.view_args or {}), **args, page=page)


def paging() -> Paging:
    """`page` and `per_page` from the query string, clamped (a bad number is page 1, not an error)."""
    return Paging(_int_arg("page", 1, 1, 10**9), _int_arg("per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE))


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    try:
        return min(high, max(low, int(request.args.get(name, default))))
    except ValueError:
        return default


def relative(moment: datetime, now: datetime) -> str:
    """'in 3 days', '5 minutes ago', 'now': a hint beside the exact UTC time."""
    seconds = (moment - now).total_seconds()
    span = abs(seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if span >= size:
            count = int(span // size)
            words = f"{count} {unit}{'s' if count != 1 else ''}"
            return f"in {words}" if seconds > 0 else f"{words} ago"
    return "now"


def utc_text(moment: datetime) -> str:
    """The exact time, in UTC, to the second."""
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def form_value(name: str, default: str = "") -> str:
    """What the person typed into `name` last time (forms keep their input on an error)."""
    return request.form.get(name, default) if request.method == "POST" else request.args.get(name, default)


def time_arg(name: str) -> datetime | None:
    """A UTC time from the filter form (`2026-12-03`, `2026-12-03T09:00`, with or without a zone).

    Raises:
        BadRequest: text that is not such a time.
    """
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadRequest(f"{name}: {text!r} is not a time such as 2026-12-03T09:00") from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def iana_block(ip_text: str) -> str | None:
    """The IANA special-purpose block an address sits in, as a person reads it ('Private-Use, 10.0.0.0/8, RFC 1918')."""
    ip = parse_ip(ip_text)
    block = special_block(ip) if ip is not None else None
    return None if block is None else f"{block.name} ({block.cidr}, {block.rfc})"
