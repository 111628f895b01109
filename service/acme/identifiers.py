"""Which identifiers an order may name: the one check new-order runs (RFC 8555 §7.4, RFC 8738)."""

from __future__ import annotations

import ipaddress

from service.csr.names import normalise_dns_name
from service.errors import MalformedCsr

# Names no public CA certifies: the internal-name rule of the Baseline Requirements, applied
# at new-order as the API applies it at submission (lint). Kept to one function so that the
# shared policy rule for internal names can replace this small list.
_INTERNAL_SUFFIXES = ("localhost", "local", "corp", "internal", "home", "lan", "intranet", "private",
                      "test", "example", "invalid", "home.arpa", "onion")


class IdentifierRefused(Exception):
    """An identifier new-order refuses; `kind` is the ACME error type."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


def checked_identifier(kind: object, value: object) -> str:
    """The identifier's value, normalised, when certgate may certify it.

    Raises:
        IdentifierRefused: unsupportedIdentifier (not dns or ip), rejectedIdentifier (syntax,
            wildcard, internal name, IP literal in a dns identifier).
    """
    if not isinstance(value, str) or not value:
        raise IdentifierRefused("rejectedIdentifier", "an identifier value is a non-empty string")
    if kind == "ip":
        try:
            return ipaddress.ip_address(value).compressed
        except ValueError:
            raise IdentifierRefused("rejectedIdentifier", f"{value!r} is not an IP address") from None
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
    if "." not in name or name.endswith(tuple("." + s for s in _INTERNAL_SUFFIXES)) or name in _INTERNAL_SUFFIXES:
        raise IdentifierRefused("rejectedIdentifier", f"{name} is an internal name, which certgate does not certify")
    return name
