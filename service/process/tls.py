"""HTTPS for `certgate serve --tls`: a server certificate from certgate's own CA and a strict TLS context.

The certificate is short-lived and lives under `<data dir>/tls/` (key mode 0600). It is issued
at start when missing, near expiry, for other names or from another issuing CA, and the workers
renew it the same way while they run: gunicorn's sync workers ask for a TLS context on every
connection, so `TlsContextSource` caches one per worker, reloads it when the files change and
renews the certificate (under a file lock, one worker at a time) when it nears expiry.

The server certificate is signed directly by the issuing CA and is not an inventory entry: it
is the service's own credential, not a subscriber's, so it has no request and no audit event.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import ssl
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from service.ca.authority import CertificateAuthority, new_serial
from service.ca.keystore import write_file_atomically, write_private_key
from service.ca.profile import IssueOrder
from service.errors import CaError, TokenUnavailable

# TLS 1.2: ECDHE (forward secrecy) with AEAD only, 256-bit first. TLS 1.3 keeps OpenSSL's
# default suites, which are all AEAD and all forward-secret (TLS 1.3 has no other kind).
TLS12_CIPHERS = ":".join((
    "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
))
SERVER_VALIDITY = timedelta(days=14)
RENEW_BEFORE = timedelta(days=5)
BACKDATE = timedelta(minutes=1)
RECHECK_SECONDS = 60.0
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_WILDCARD_HOSTS = {"", "0.0.0.0", "::"}


@dataclass(frozen=True)
class TlsPaths:
    """Where the server's TLS files live under `<data dir>/tls`."""

    root: Path

    @property
    def key(self) -> Path:
        return self.root / "server.key.pem"

    @property
    def cert(self) -> Path:
        """The server certificate followed by the issuing CA (what clients need to build a path)."""
        return self.root / "server.pem"

    @property
    def lock(self) -> Path:
        return self.root / ".lock"


@dataclass(frozen=True)
class ServerNames:
    """The names a server certificate covers: DNS names and IP addresses."""

    dns: tuple[str, ...]
    ips: tuple[str, ...]

    @classmethod
    def for_host(cls, host: str, extra: Iterable[str] = ()) -> ServerNames:
        """The loopback names, the bind host (unless it is a wildcard) and any `extra` names."""
        dns: list[str] = []
        ips: list[str] = []
        wanted = [*LOOPBACK_NAMES, *([] if host.strip("[]") in _WILDCARD_HOSTS else [host.strip("[]")]), *extra]
        for name in wanted:
            try:
                literal = str(ipaddress.ip_address(name))
                if literal not in ips:
                    ips.append(literal)
            except ValueError:
                if name.lower() not in dns:
                    dns.append(name.lower())
        return cls(tuple(dns), tuple(ips))

    def of(self, cert: x509.Certificate) -> bool:
        """True when `cert` names exactly these names."""
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            return False
        got_ips = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
        return set(san.get_values_for_type(x509.DNSName)) == set(self.dns) and got_ips == set(self.ips)


def strict_context(context: ssl.SSLContext) -> ssl.SSLContext:
    """Restrict a server context to TLS 1.2/1.3 with forward-secret AEAD suites, server order first."""
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    return context


def needs_renewal(paths: TlsPaths, ca: CertificateAuthority, names: ServerNames, now: datetime,
                  renew_before: timedelta = RENEW_BEFORE) -> bool:
    """True when the files are missing, unreadable, near expiry, for other names or from another CA."""
    try:
        blocks = x509.load_pem_x509_certificates(paths.cert.read_bytes())
        key = serialization.load_pem_private_key(paths.key.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return True
    cert = blocks[0]
    try:
        cert.verify_directly_issued_by(ca.issuing_cert)
    except (ValueError, TypeError, InvalidSignature):
        return True
    return (key.public_key() != cert.public_key() or not names.of(cert)
            or cert.not_valid_after_utc - now < renew_before or cert.not_valid_before_utc > now)


def ensure_server_certificate(ca: CertificateAuthority, paths: TlsPaths, names: ServerNames, now: datetime, *,
                              validity: timedelta = SERVER_VALIDITY, renew_before: timedelta = RENEW_BEFORE) -> bool:
    """Issue a server certificate when `needs_renewal` says so; True when one was issued.

    Safe to call from several processes at once: they take turns on a lock file.

    Raises:
        CaError: the CA could not sign, or the files could not be written.
    """
    with _locked(paths, fcntl.LOCK_EX):
        if not needs_renewal(paths, ca, names, now, renew_before):
            return False
        key = ec.generate_private_key(ec.SECP256R1())
        order = IssueOrder(public_key=key.public_key(), common_name=None, dns_names=names.dns,
                           ip_addresses=names.ips, not_before=now - BACKDATE, not_after=now + validity,
                           serial=new_serial())
        # No lint: pkilint refuses internal names such as localhost, which are the point here.
        issued = ca.issue(order, linter=None)
        chain = issued.pem.encode() + ca.issuing_cert.public_bytes(serialization.Encoding.PEM)
        try:
            write_private_key(paths.key, key, None)
            write_file_atomically(paths.cert, chain, 0o644)
        except OSError as exc:
            raise CaError(f"cannot write the TLS files under {paths.root}: {exc.strerror}") from None
        return True


class TlsContextSource:
    """gunicorn's `ssl_context` hook: one strict context per worker, reloaded and renewed as needed.

    Calling `load_cert_chain` on every connection (gunicorn's default) costs a file read and a
    key parse per handshake; the cache costs one `stat`.
    """

    def __init__(self, ca: CertificateAuthority | Callable[[], CertificateAuthority], paths: TlsPaths, names: ServerNames,
                 clock: Callable[[], datetime], *, recheck_seconds: float = RECHECK_SECONDS) -> None:
        self._ca = ca  # or where to ask for the CA that signs now (after a rollover, the new one)
        self._paths = paths
        self._names = names
        self._clock = clock
        self._context: ssl.SSLContext | None = None
        self._loaded_mtime = -1
        self._checked_at = float("-inf")
        self._recheck_seconds = recheck_seconds

    def __call__(self, _config: Any, default_factory: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
        """The context for the next connection.

        Raises:
            CaError, TokenUnavailable: renewal was due and failed, and no usable context exists.
        """
        if time.monotonic() - self._checked_at >= self._recheck_seconds:
            self._checked_at = time.monotonic()
            try:
                ca = self._ca if isinstance(self._ca, CertificateAuthority) else self._ca()
                ensure_server_certificate(ca, self._paths, self._names, self._clock())
            except (CaError, TokenUnavailable):  # a token that is down: renew when it is back
                if self._context is None:
                    raise  # else keep serving with the current certificate until it can be renewed
        mtime = self._paths.cert.stat().st_mtime_ns
        if self._context is None or mtime != self._loaded_mtime:
            with _locked(self._paths, fcntl.LOCK_SH):
                self._loaded_mtime = self._paths.cert.stat().st_mtime_ns
                self._context = strict_context(default_factory())
        return self._context


@contextmanager
def _locked(paths: TlsPaths, mode: int) -> Iterator[None]:
    paths.root.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(paths.lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, mode)
        yield
    finally:
        os.close(fd)  # closing releases the lock
