"""The IANA special-purpose address registries (and reserved address space) as plain data.

Transcribed by hand, row for row, from:

- IANA IPv4 Special-Purpose Address Registry, last updated 2025 (RFC 6890, RFC 8190):
  https://www.iana.org/assignments/iana-ipv4-special-registry/
- IANA IPv6 Special-Purpose Address Registry, last updated 2025-04 (adds 100:0:0:1::/64,
  RFC 9780): https://www.iana.org/assignments/iana-ipv6-special-registry/
- IANA IPv4 Address Space Registry (224.0.0.0/4 multicast, RFC 5771):
  https://www.iana.org/assignments/ipv4-address-space/
- IANA IPv6 Address Space Registry (every block outside 2000::/3 that is not listed above is
  "Reserved by IETF"; ff00::/8 multicast; fec0::/10 deprecated site-local, RFC 3879):
  https://www.iana.org/assignments/ipv6-address-space/

`registry_reachable` is the registry's own "Globally Reachable" cell: True, False or None where
the registry says N/A or leaves it empty (terminated allocations). `globally_reachable` is the
verdict certgate uses; it differs from the registry only by turning None into False (see
`policies.addresses` for why). Rows from the address-space registries have no such column
(`registry_reachable` None): nothing in them is unicast space anyone can hold, so they are False.

When IANA updates a registry, add the row here and a line to tests/policies/test_addresses.py.
"""

from __future__ import annotations

from typing import Final

IPV4_SPECIAL: Final = "iana-ipv4-special-registry"
IPV6_SPECIAL: Final = "iana-ipv6-special-registry"
IPV4_SPACE: Final = "ipv4-address-space"
IPV6_SPACE: Final = "ipv6-address-space"

# (cidr, name, rfc, registry "Globally Reachable" cell: True / False / None for N/A or empty)
Row = tuple[str, str, str, bool | None]

IPV4_SPECIAL_ROWS: Final[tuple[Row, ...]] = (
    ("0.0.0.0/8", '"This network"', "RFC 791, Section 3.2", False),
    ("0.0.0.0/32", '"This host on this network"', "RFC 1122, Section 3.2.1.3", False),
    ("10.0.0.0/8", "Private-Use", "RFC 1918", False),
    ("100.64.0.0/10", "Shared Address Space", "RFC 6598", False),
    ("127.0.0.0/8", "Loopback", "RFC 1122, Section 3.2.1.3", False),
    ("169.254.0.0/16", "Link Local", "RFC 3927", False),
    ("172.16.0.0/12", "Private-Use", "RFC 1918", False),
    ("192.0.0.0/24", "IETF Protocol Assignments", "RFC 6890, Section 2.1", False),
    ("192.0.0.0/29", "IPv4 Service Continuity Prefix", "RFC 7335", False),
    ("192.0.0.8/32", "IPv4 dummy address", "RFC 7600", False),
    ("192.0.0.9/32", "Port Control Protocol Anycast", "RFC 7723", True),
    ("192.0.0.10/32", "Traversal Using Relays around NAT Anycast", "RFC 8155", True),
    ("192.0.0.170/32", "NAT64/DNS64 Discovery", "RFC 8880, RFC 7050 Section 2.2", False),
    ("192.0.0.171/32", "NAT64/DNS64 Discovery", "RFC 8880, RFC 7050 Section 2.2", False),
    ("192.0.2.0/24", "Documentation (TEST-NET-1)", "RFC 5737", False),
    ("192.31.196.0/24", "AS112-v4", "RFC 7535", True),
    ("192.52.193.0/24", "AMT", "RFC 7450", True),
    ("192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", "RFC 7526", None),
    ("192.88.99.2/32", "6a44-relay anycast address", "RFC 6751", False),
    ("192.168.0.0/16", "Private-Use", "RFC 1918", False),
    ("192.175.48.0/24", "Direct Delegation AS112 Service", "RFC 7534", True),
    ("198.18.0.0/15", "Benchmarking", "RFC 2544", False),
    ("198.51.100.0/24", "Documentation (TEST-NET-2)", "RFC 5737", False),
    ("203.0.113.0/24", "Documentation (TEST-NET-3)", "RFC 5737", False),
    ("240.0.0.0/4", "Reserved", "RFC 1112, Section 4", False),
    ("255.255.255.255/32", "Limited Broadcast", "RFC 8190, RFC 919 Section 7", False),
)

IPV6_SPECIAL_ROWS: Final[tuple[Row, ...]] = (
    ("::1/128", "Loopback Address", "RFC 4291", False),
    ("::/128", "Unspecified Address", "RFC 4291", False),
    ("::ffff:0:0/96", "IPv4-mapped Address", "RFC 4291", False),
    ("64:ff9b::/96", "IPv4-IPv6 Translat.", "RFC 6052", True),
    ("64:ff9b:1::/48", "IPv4-IPv6 Translat.", "RFC 8215", False),
    ("100::/64", "Discard-Only Address Block", "RFC 6666", False),
    ("100:0:0:1::/64", "Dummy IPv6 Prefix", "RFC 9780", False),
    ("2001::/23", "IETF Protocol Assignments", "RFC 2928", False),
    ("2001::/32", "TEREDO", "RFC 4380, RFC 8190", None),
    ("2001:1::1/128", "Port Control Protocol Anycast", "RFC 7723", True),
    ("2001:1::2/128", "Traversal Using Relays around NAT Anycast", "RFC 8155", True),
    ("2001:1::3/128", "DNS-SD Service Registration Protocol Anycast", "RFC 9665", True),
    ("2001:2::/48", "Benchmarking", "RFC 5180, RFC Errata 1752", False),
    ("2001:3::/32", "AMT", "RFC 7450", True),
    ("2001:4:112::/48", "AS112-v6", "RFC 7535", True),
    ("2001:10::/28", "Deprecated (previously ORCHID)", "RFC 4843", None),
    ("2001:20::/28", "ORCHIDv2", "RFC 7343", True),
    ("2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs) Prefix", "RFC 9374", True),
    ("2001:db8::/32", "Documentation", "RFC 3849", False),
    ("2002::/16", "6to4", "RFC 3056", None),
    ("2620:4f:8000::/48", "Direct Delegation AS112 Service", "RFC 7534", True),
    ("3fff::/20", "Documentation", "RFC 9637", False),
    ("5f00::/16", "Segment Routing (SRv6) SIDs", "RFC 9602", False),
    ("fc00::/7", "Unique-Local", "RFC 4193, RFC 8190", False),
    ("fe80::/10", "Link-Local Unicast", "RFC 4291", False),
)

IPV4_SPACE_ROWS: Final[tuple[Row, ...]] = (
    ("224.0.0.0/4", "Multicast", "RFC 5771", None),
)

# Everything outside 2000::/3 (global unicast) that the special registry does not describe.
_IETF_RESERVED = "Reserved by IETF"
IPV6_SPACE_ROWS: Final[tuple[Row, ...]] = (
    ("::/8", _IETF_RESERVED, "RFC 4291", None),
    ("100::/8", _IETF_RESERVED, "RFC 4291", None),
    ("200::/7", _IETF_RESERVED, "RFC 4048", None),
    ("400::/6", _IETF_RESERVED, "RFC 4291", None),
    ("800::/5", _IETF_RESERVED, "RFC 4291", None),
    ("1000::/4", _IETF_RESERVED, "RFC 4291", None),
    ("4000::/3", _IETF_RESERVED, "RFC 4291", None),
    ("6000::/3", _IETF_RESERVED, "RFC 4291", None),
    ("8000::/3", _IETF_RESERVED, "RFC 4291", None),
    ("a000::/3", _IETF_RESERVED, "RFC 4291", None),
    ("c000::/3", _IETF_RESERVED, "RFC 4291", None),
    ("e000::/4", _IETF_RESERVED, "RFC 4291", None),
    ("f000::/5", _IETF_RESERVED, "RFC 4291", None),
    ("f800::/6", _IETF_RESERVED, "RFC 4291", None),
    ("fe00::/9", _IETF_RESERVED, "RFC 4291", None),
    ("fec0::/10", "Deprecated site-local", "RFC 3879", None),
    ("ff00::/8", "Multicast", "RFC 4291", None),
)
