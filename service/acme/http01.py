"""The http-01 fetch (RFC 8555 §8.3): bounded in time, redirects and body; every hop recorded."""

from __future__ import annotations

import http.client
import ipaddress
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

TIMEOUT_SECONDS = 5.0
MAX_REDIRECTS = 10
MAX_BODY = 8 * 1024
PATH = "/.well-known/acme-challenge/"


@dataclass
class Fetched:
    """What validation fetched: the body (None on failure), the problem, and each hop."""

    body: bytes | None
    problem: tuple[str, str] | None
    hops: list[dict[str, Any]] = field(default_factory=list)


def connect_address(host: str, port: int, hosts: Mapping[str, str]) -> str:
    """Where to connect for `host`: the override (tests and labs), the IP itself, or DNS."""
    override = hosts.get(host.lower())
    if override:
        return override
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        return str(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4][0])


def fetch_http01(host: str, token: str, *, port: int, hosts: Mapping[str, str],
                 timeout: float = TIMEOUT_SECONDS) -> Fetched:
    """GET http://host/.well-known/acme-challenge/TOKEN, following http redirects."""
    fetched = Fetched(None, None)
    url_host = f"[{host}]" if ":" in host else host
    url = f"http://{url_host}{PATH}{token}"
    deadline = time.monotonic() + timeout
    for _ in range(MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            fetched.problem = ("connection", f"redirect to {url!r}: only http URLs are followed")
            return fetched
        hop_port = parts.port or port
        hop: dict[str, Any] = {"url": url, "port": hop_port}
        fetched.hops.append(hop)
        try:
            address = connect_address(parts.hostname, hop_port, hosts)
            hop["address"] = address
            connection = http.client.HTTPConnection(address, hop_port, timeout=max(0.1, deadline - time.monotonic()))
            try:
                connection.request("GET", parts.path or "/", headers={
                    "Host": parts.netloc, "User-Agent": "certgate-acme-validator", "Accept": "*/*", "Connection": "close"})
                response = connection.getresponse()
                body = response.read(MAX_BODY + 1)
            finally:
                connection.close()
        except (OSError, http.client.HTTPException, UnicodeError, ValueError) as exc:
            hop["error"] = type(exc).__name__
            fetched.problem = ("connection", f"fetching {url} from {hop.get('address', '?')}:{hop_port}: {exc}")
            return fetched
        hop.update(status=response.status, bytes=min(len(body), MAX_BODY))
        if response.status in (301, 302, 303, 307, 308):
            location = response.getheader("Location", "")
            url = location if "://" in location else f"http://{parts.netloc}{location}"
            continue
        if response.status != 200:
            fetched.problem = ("unauthorized", f"{url} answered HTTP {response.status}")
        elif len(body) > MAX_BODY:
            fetched.problem = ("unauthorized", f"{url} answered more than {MAX_BODY} bytes")
        else:
            fetched.body = body
        return fetched
    fetched.problem = ("connection", f"more than {MAX_REDIRECTS} redirects")
    return fetched
