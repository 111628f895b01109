"""DNS names under the policy: syntax, internal names, public suffixes and wildcards (pure).

Names are judged in one form: lowercase A-labels (IDNs as `xn--`), no trailing dot, an optional
leading `*.` for a wildcard. `normalise_name` makes that form; every other function expects it.
The Public Suffix List is handed in (`PublicSuffixes`); without one, only the fixed rules apply.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from policies.suffixes import PublicSuffixes

MAX_NAME_LENGTH = 253
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_HOST = re.compile(rf"(?:\*\.)?{_LABEL.pattern}(?:\.{_LABEL.pattern})*")


class NameProblem(StrEnum):
    """Why a name may never be certified (each is `name_not_allowed`; no review can cure it)."""

    SYNTAX = "syntax"
    INTERNAL = "internal"
    PUBLIC_SUFFIX = "public_suffix"
    WILDCARD = "wildcard"


@dataclass(frozen=True)
class NameRefusal:
    """A name that is refused outright: the kind of problem and a message that says why."""

    problem: NameProblem
    message: str


# Top-level domains that are not, and will never be, names in the public DNS; the reason names
# the document that sets each aside. Checked before the Public Suffix List, which knows `onion`.
RESERVED_TLDS: dict[str, str] = {
    "localhost": "reserved for the local host (RFC 6761)",
    "local": "reserved for multicast DNS on the local link (RFC 6762)",
    "test": "reserved for testing (RFC 2606)",
    "example": "reserved for documentation (RFC 2606)",
    "invalid": "reserved as never valid (RFC 2606)",
    "onion": "a Tor onion service (RFC 7686); the Baseline Requirements' onion rules are not supported",
    "alt": "reserved for names outside the DNS (RFC 9476)",
    "internal": "reserved by ICANN for private use (2024)",
    "corp": "an internal-use TLD that ICANN will not delegate (name collision)",
    "home": "an internal-use TLD that ICANN will not delegate (name collision)",
    "mail": "an internal-use TLD that ICANN will not delegate (name collision)",
    "lan": "a common internal-use TLD, not delegated in the public DNS",
    "intranet": "a common internal-use TLD, not delegated in the public DNS",
    "private": "a common internal-use TLD, not delegated in the public DNS",
}
# Special-use names deeper than a TLD (RFC 6761 and later registrations), all under .arpa.
RESERVED_SUFFIXES: dict[str, str] = {
    "home.arpa": "reserved for home networks (RFC 8375)",
    "in-addr.arpa": "a reverse-DNS zone, not a host name",
    "ip6.arpa": "a reverse-DNS zone, not a host name",
}


class InvalidName(ValueError):
    """The text cannot be turned into a DNS name at all."""


def normalise_name(text: str) -> str:
    """The comparison form of a name: lowercase, NFC, U-labels turned into `xn--` A-labels.

    Raises:
        InvalidName: an empty label or a label that cannot be encoded.
    """
    name = text.strip().rstrip(".")
    if name.isascii():
        return name.lower()
    labels = []
    for label in unicodedata.normalize("NFC", name).lower().split("."):
        if label.isascii():
            labels.append(label)
            continue
        try:
            labels.append("xn--" + label.encode("punycode").decode("ascii"))
        except UnicodeError as exc:
            raise InvalidName(f"{text!r}: label {label!r} cannot be encoded as an A-label") from exc
    return ".".join(labels)


def base_name(name: str) -> str:
    """The name without its wildcard label: `*.example.com` -> `example.com`."""
    return name[2:] if name.startswith("*.") else name


def syntax_problem(name: str) -> str | None:
    """Why `name` is not a lowercase LDH host name (wildcard only as the whole leftmost label)."""
    if not name:
        return "the name is empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"the name is longer than {MAX_NAME_LENGTH} characters"
    if "--" not in name and _HOST.fullmatch(name):
        return None  # the common case, in one match; the loop below finds the words for a bad name
    labels = base_name(name).split(".")
    for label in labels:
        if label == "*" or "*" in label:
            return "a wildcard may only be the whole leftmost label (*.example.com)"
        if not _LABEL.fullmatch(label):
            return f"label {label!r} is not a lowercase letter-digit-hyphen label of 1 to 63 characters"
        if label[2:4] == "--" and not label.startswith("xn--"):
            return f"label {label!r} has hyphens in the third and fourth places but is not an A-label (xn--)"
    return None


def internal_reason(name: str) -> str | None:
    """Why `name` is an Internal Name under the Baseline Requirements, or None when it is not.

    The fixed classes only; the test of the TLD against the Public Suffix List is in `name_refusal`.
    """
    base = base_name(name)
    if "." not in base:
        return f"{name} is a single label, not a fully qualified domain name"
    tld = base[base.rfind(".") + 1:]
    if tld.isdigit():
        return f"{name} ends in the numeric top-level label {tld!r}, which no TLD can be"
    if tld in RESERVED_TLDS:
        return f"{name} is under .{tld}: {RESERVED_TLDS[tld]}"
    if tld == "arpa":
        for suffix, why in RESERVED_SUFFIXES.items():
            if base == suffix or base.endswith("." + suffix):
                return f"{name} is under {suffix}: {why}"
    return None


def name_refusal(name: str, suffixes: PublicSuffixes | None = None, *, allow_internal: bool = False) -> NameRefusal | None:
    """Why `name` (already normalised) may never be certified, whoever owns what; None when it may.

    Order: syntax, internal names, then the Public Suffix List (an unknown TLD is internal; a
    public suffix, or a wildcard directly under one, belongs to nobody). `allow_internal` is
    the private-trust switch (`[names] allow_internal`): internal names pass this rule.
    """
    problem = syntax_problem(name)
    if problem is not None:
        return NameRefusal(NameProblem.SYNTAX, f"{name!r} is not a valid DNS name: {problem}")
    internal = internal_reason(name)
    if internal is not None and not allow_internal:
        return NameRefusal(NameProblem.INTERNAL, f"internal name: {internal}")
    if suffixes is None:
        return None
    base = base_name(name)
    found = suffixes.match(base)
    if not found.known:
        if allow_internal:
            return None
        return NameRefusal(NameProblem.INTERNAL,
                           f"internal name: .{found.suffix} is not a top-level domain of the public DNS (Public Suffix List)")
    if found.suffix == base:
        section = "private" if found.section == "private" else "ICANN"
        what = f"a wildcard directly under the public suffix {base}" if base != name else f"{name} is a public suffix"
        return NameRefusal(NameProblem.PUBLIC_SUFFIX, f"{what} ({section} section of the Public Suffix List); nobody owns it")
    return None


def name_not_allowed_reason(name: str, suffixes: PublicSuffixes | None = None, *, allow_internal: bool = False) -> str | None:
    """The message for a name that is `name_not_allowed`, or None (the ACME edge's entry point).

    Accepts any case and U-labels: the name is normalised first. Ownership is not judged here.
    """
    try:
        normal = normalise_name(name)
    except InvalidName as exc:
        return str(exc)
    refusal = name_refusal(normal, suffixes, allow_internal=allow_internal)
    return None if refusal is None else refusal.message
