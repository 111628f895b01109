"""Which identifiers an order may name: the one check new-order runs (RFC 8555 §7.4, RFC 8738)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from service.csr.names import normalise_dns_name
from service.errors import MalformedCsr

class IdentifierRefused(Exception):
    """An identifier new-order refuses; `kind` is the ACME error type."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


def checked_identifier(kind: object, value: object, name_refusal: Callable[[str], str | None]) -> str:
    """The identifier's value, normalised, when certgate may certify it; `name_refusal` is the
    policy's internal-name rule (`Judge.name_refusal`), the same that refuses a submission.

    Raises:
        IdentifierRefused: unsupportedIdentifier (not dns or ip), rejectedIdentifier (syntax,
            wildcard, internal name, IP literal in a dns identifier).
    """
    if not isinstance(value, str) or not value:
        raise IdentifierRefused("rejectedIdentifier", "an identifier value is a non-empty string")
    if kind == "ip":
        return checked_ip(value)
    if kind != "dns":
        raise IdentifierRefused("unsupportedIdentifier", f"identifier type {kind!r}: certgate offers dns and ip")
    try:
        name = normalise_dns_name(value)
        ipaddress.ip_address(name)
    except MalformedCsr:
        raise IdentifierRefused("rejectedIdentifier", f"{value!r} is not a host name") from None
    except ValueError:
        pass
    else:
        raise IdentifierRefused("rejectedIdentifier", f"{value!r} is an IP address: use an ip identifier")
    if name.startswith("*."):
        raise IdentifierRefused("rejectedIdentifier", "wildcards need dns-01, which certgate does not offer")
    why = name_refusal(name)
    if why is not None:
        raise IdentifierRefused("rejectedIdentifier", f"name_not_allowed: {why}")
    return name


def checked_ip(value: str) -> str:
    """An ip identifier's value in its canonical text.

    Raises:
        IdentifierRefused: rejectedIdentifier, when `value` is not an IP address.
    """
    try:
        return ipaddress.ip_address(value).compressed
    except ValueError:
        raise IdentifierRefused("rejectedIdentifier", f"{value!r} is not an IP address") from None
