"""Search keys for certificate names: IPs as fixed-width hex, DNS names reversed by label.

Both make the inventory's filters index range scans on SQLite and PostgreSQL alike: a CIDR is a
string range over the hex keys, and a DNS suffix is a string prefix of the reversed name.
"""

from __future__ import annotations

import ipaddress


def ip_key(text: str) -> str:
    """32 hex digits of the IPv6 form (IPv4 as ::ffff:a.b.c.d), so both families share one order."""
    ip = ipaddress.ip_address(text)
    value = int(ip) | (0xFFFF << 32) if ip.version == 4 else int(ip)
    return f"{value:032x}"


def cidr_key_range(cidr: str) -> tuple[str, str]:
    """The first and last `ip_key` inside a CIDR (or a single address).

    Raises:
        ValueError: not an address or a network.
    """
    net = ipaddress.ip_network(cidr, strict=False)
    return ip_key(str(net.network_address)), ip_key(str(net.broadcast_address))


def dns_key(name: str) -> str:
    """`www.example.com` -> `com.example.www` (lowercase, no trailing dot)."""
    return ".".join(reversed(name.lower().rstrip(".").split(".")))
