"""cfssl as the peer issuer of bench/peer_cfssl.py: its signing config shaped like certgate's leaf
profile, the pre-encoded sign bodies, the `cfssl serve` process, and the check that an answer is
a real leaf of the same issuing CA carrying the CSR's names."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID

from harness import Server, free_port

SIGN_PATH = "/api/v1/cfssl/sign"
PROFILE = "certgate-leaf"  # EC leaf keys (the CSR pool): digitalSignature only, as certgate
PROFILE_RSA_KEYS = "certgate-leaf-rsa"  # RSA leaf keys: certgate adds keyEncipherment
DOMAIN_VALIDATED = "2.23.140.1.2.1"
LEAF_EXPIRY = "2160h"  # 90 days: certgate's [validity] default_days
LEAF_DAYS = 90


class PeerError(RuntimeError):
    """cfssl did not start, refused a request, or answered something that is not the expected leaf."""


def cfssl_config(base_url: str) -> dict[str, Any]:
    """cfssl's `-config` JSON: signing profiles as close to certgate's TLS leaf as cfssl 1.2 allows.

    Mirrors `service.ca.profile.leaf_builder` (KU digitalSignature [+ keyEncipherment for RSA keys],
    EKU serverAuth, 90 days, CRL DP, AIA OCSP + caIssuers under the same URLs, DV policy OID).
    cfssl cannot pick the key usage by the leaf's key type, hence one profile per key family.
    """
    base = base_url.rstrip("/")
    profile: dict[str, Any] = {
        "expiry": LEAF_EXPIRY,
        "usages": ["digital signature", "server auth"],
        "crl_url": f"{base}/crl",
        "ocsp_url": f"{base}/ocsp",
        "issuer_urls": [f"{base}/ca/issuing.cer"],
        "policies": [{"ID": DOMAIN_VALIDATED}],
    }
    rsa_keys = dict(profile, usages=["digital signature", "key encipherment", "server auth"])
    return {"signing": {"default": dict(profile), "profiles": {PROFILE: profile, PROFILE_RSA_KEYS: rsa_keys}}}


def sign_body(csr_pem: bytes, profile: str = PROFILE) -> str:
    """One `/api/v1/cfssl/sign` request body, on one line (no hosts: cfssl copies the CSR's SANs)."""
    return json.dumps({"certificate_request": csr_pem.decode(), "profile": profile}, separators=(",", ":"))


def write_bodies(pems: Sequence[bytes], path: Path, profile: str = PROFILE) -> Path:
    """The CSR pool as sign bodies, one per line in pool order, for bench/wrk_post_csr.lua (format "cfssl")."""
    path.write_text("".join(sign_body(pem, profile) + "\n" for pem in pems))
    return path


class CfsslServer(Server):
    """A `cfssl serve` process we started (one Go process: its threads are its workers).

    `harness.Server` with cfssl's own readiness (a listening port: it has no health check) and
    shutdown (SIGTERM, no worker processes to clean up).
    """

    @property
    def workers(self) -> list[int]:
        return [self.proc.pid]

    def wait_ready(self, timeout: float = 30.0) -> None:
        host, port = self.base.removeprefix("http://").split(":")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PeerError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise PeerError(f"{self.name} not listening after {timeout} s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextmanager
def running_cfssl(name: str, ca_cert: Path, ca_key: Path, config: Path, workdir: Path) -> Iterator[CfsslServer]:
    """`cfssl serve` on 127.0.0.1 with this CA and config, its log (default level) in `workdir`."""
    port = free_port()
    log = workdir / f"{name}.log"
    argv = ["cfssl", "serve", "-address", "127.0.0.1", "-port", str(port), "-ca", str(ca_cert),
            "-ca-key", str(ca_key), "-config", str(config)]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    server = CfsslServer(name, proc, f"http://127.0.0.1:{port}", log)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def cfssl_sign(base: str, csr_pem: bytes, profile: str = PROFILE) -> x509.Certificate:
    """Sign one CSR through cfssl's HTTP API.

    Raises:
        PeerError: a non-200 answer, `success` false, or no certificate in the result.
    """
    req = urllib.request.Request(base + SIGN_PATH, data=sign_body(csr_pem, profile).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as answer:
            doc = json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        raise PeerError(f"cfssl answered {exc.code}: {exc.read()[:300]!r}") from None
    if not doc.get("success") or "certificate" not in (doc.get("result") or {}):
        raise PeerError(f"cfssl did not sign: {doc.get('errors')}")
    return x509.load_pem_x509_certificate(doc["result"]["certificate"].encode())


def _san_values(ext: x509.SubjectAlternativeName) -> set[str]:
    return {str(v) for v in ext.get_values_for_type(x509.DNSName)} | {
        str(v) for v in ext.get_values_for_type(x509.IPAddress)}


def check_leaf(cert: x509.Certificate, csr_pem: bytes, issuer: x509.Certificate) -> list[str]:
    """Check a leaf against its CSR and issuer; return its extension names (for the comparison).

    Raises:
        PeerError: not signed by `issuer`, other SANs than the CSR's, a CA, no serverAuth, or not
            about 90 days.
    """
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise PeerError(f"the leaf does not chain to the issuing CA: {exc!r}") from None
    csr = x509.load_pem_x509_csr(csr_pem)
    want = _san_values(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    got = _san_values(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    if got != want:
        raise PeerError(f"SANs {sorted(got)} differ from the CSR's {sorted(want)}")
    if cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
        raise PeerError("the leaf is a CA")
    if ExtendedKeyUsageOID.SERVER_AUTH not in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value:
        raise PeerError("no serverAuth EKU")
    days = (cert.not_valid_after_utc - cert.not_valid_before_utc) / timedelta(days=1)
    if abs(days - LEAF_DAYS) > 1:
        raise PeerError(f"validity {days:.2f} days, expected about {LEAF_DAYS}")
    return sorted(ext.oid._name for ext in cert.extensions)  # noqa: SLF001 (the OID's short name)


def compare_leaves(certgate: x509.Certificate, cfssl: x509.Certificate) -> str:
    """One line on how the two leaves differ in extensions and signature hash."""
    a = {ext.oid._name for ext in certgate.extensions}  # noqa: SLF001
    b = {ext.oid._name for ext in cfssl.extensions}  # noqa: SLF001
    hashes = {n: c.signature_hash_algorithm.name if c.signature_hash_algorithm else "-"
              for n, c in (("certgate", certgate), ("cfssl", cfssl))}
    only = [f"only certgate: {', '.join(sorted(a - b))}" if a - b else "",
            f"only cfssl: {', '.join(sorted(b - a))}" if b - a else ""]
    return (f"{len(a & b)} extensions in common; " + "; ".join(x for x in only if x) +
            f"{'; ' if any(only) else ''}signature hash certgate {hashes['certgate']}, cfssl {hashes['cfssl']}")
