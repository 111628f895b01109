"""The names a CSR asks for: its commonName and subjectAltName, checked and normalised.

Only dNSName and iPAddress are certifiable here. A dNSName is a lowercase LDH host name
(optionally `*.` wildcard, A-labels for IDNs); one that is an IP literal passes through as it
is, because the policy judges every IP the certificate would name, wherever it hides.
"""

from __future__ import annotations

import ipaddress
import re

from cryptography import x509
from cryptography.x509.oid import ExtensionOID, NameOID

from service.errors import MalformedCsr

MAX_DNS_NAME_LENGTH = 253
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST_NAME = re.compile(rf"(?:\*\.)?{_LABEL}(?:\.{_LABEL})*")

_SAN_TYPE_NAMES: dict[type[x509.GeneralName], str] = {
    x509.RFC822Name: "rfc822Name (email)",
    x509.UniformResourceIdentifier: "uniformResourceIdentifier (URI)",
    x509.OtherName: "otherName",
    x509.DirectoryName: "directoryName",
    x509.RegisteredID: "registeredID",
}


def common_name(csr: x509.CertificateSigningRequest) -> str | None:
    """The subject's commonName, normalised like a dNSName; None when there is none.

    Raises:
        MalformedCsr: the commonName is empty or neither a host name nor an IP literal.
    """
    attributes = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not attributes:
        return None
    value = attributes[0].value
    if not isinstance(value, str) or not value:
        raise MalformedCsr("the commonName is empty or not a string")
    try:
        return normalise_dns_name(value)
    except MalformedCsr as exc:
        raise MalformedCsr(f"commonName {value!r} is not a host name or an IP address") from exc


def subject_alt_names(csr: x509.CertificateSigningRequest) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The SAN's dNSNames and iPAddresses, each normalised, in order, without repeats.

    Raises:
        MalformedCsr: an unsupported name type, an invalid dNSName, an address with a netmask,
            an empty SAN, or extensions that do not decode.
    """
    try:
        extension = csr.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    except x509.ExtensionNotFound:
        return (), ()
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as exc:
        raise MalformedCsr(f"the requested extensions do not decode: {exc}") from exc
    san = extension.value
    assert isinstance(san, x509.SubjectAlternativeName)
    dns_names: dict[str, None] = {}
    ip_addresses: dict[str, None] = {}
    for name in san:
        if isinstance(name, x509.DNSName):
            dns_names[normalise_dns_name(name.value)] = None
        elif isinstance(name, x509.IPAddress):
            ip_addresses[_ip_text(name.value)] = None
        else:
            kind = _SAN_TYPE_NAMES.get(type(name), type(name).__name__)
            raise MalformedCsr(f"unsupported SAN type {kind}: only dNSName and iPAddress")
    if not dns_names and not ip_addresses:
        raise MalformedCsr("the subjectAltName extension is empty")
    return tuple(dns_names), tuple(ip_addresses)


def normalise_dns_name(value: str) -> str:
    """Lowercase an LDH host name (optional leading `*.`); IP literals come back untouched.

    Raises:
        MalformedCsr: not ASCII, not LDH, too long, a trailing dot, or a bad `xn--` label.
    """
    if _is_ip_literal(value):
        return value  # the policy looks for IP literals in names; keep them as sent
    name = value.lower()
    if not name.isascii():
        raise MalformedCsr(f"dNSName {value!r} is not ASCII; send IDNs as A-labels (xn--)")
    if len(name) > MAX_DNS_NAME_LENGTH:
        raise MalformedCsr(f"dNSName is longer than {MAX_DNS_NAME_LENGTH} characters")
    if not _HOST_NAME.fullmatch(name):
        raise MalformedCsr(f"dNSName {value!r} is not a valid host name")
    for label in name.split("."):
        if label.startswith("xn--") and not _is_a_label(label):
            raise MalformedCsr(f"dNSName {value!r} holds an invalid A-label {label!r}")
    return name


def _is_ip_literal(value: str) -> bool:
    if ":" not in value and not value.replace(".", "").isdigit():
        return False  # skip the costly parse for ordinary host names (hot path)
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_a_label(label: str) -> bool:
    """An `xn--` label must decode as Punycode to printable, non-ASCII text, and back again.

    This catches garbage and ASCII smuggled as an A-label; it is not a full IDNA2008 check
    (no contextual rules), which would need the `idna` package.
    """
    try:
        decoded = label[4:].encode("ascii").decode("punycode")
    except UnicodeError:
        return False
    if not decoded or decoded.isascii() or not decoded.isprintable():
        return False
    return decoded.encode("punycode") == label[4:].encode("ascii")


def _ip_text(
    value: ipaddress.IPv4Address | ipaddress.IPv6Address | ipaddress.IPv4Network | ipaddress.IPv6Network,
) -> str:
    """Compressed text; an IPv4-mapped IPv6 address as `::ffff:a.b.c.d` on every Python."""
    if isinstance(value, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        raise MalformedCsr(f"iPAddress SAN {value} carries a netmask; name single addresses")
    if isinstance(value, ipaddress.IPv6Address) and value.ipv4_mapped is not None:
        return f"::ffff:{value.ipv4_mapped}"
    return str(value)
