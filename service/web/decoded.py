"""A stored CSR or certificate decoded for a person to read: subject, names, key, fingerprints."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509

from service.csr import load_csr
from service.errors import CertgateError


@dataclass(frozen=True)
class CsrSummary:
    """What an approver checks before saying yes."""

    subject: str
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    key: str
    spki_sha256: str
    csr_sha256: str


def describe_csr(pem: str) -> CsrSummary | None:
    """The stored CSR decoded (None if it no longer parses under today's checks)."""
    try:
        csr = load_csr(pem.encode())
    except CertgateError:
        return None
    facts = csr.key
    key = f"{facts.algorithm.value.upper()} {facts.bits} bits" + (f" ({facts.curve})" if facts.curve else "")
    return CsrSummary(csr.csr.subject.rfc4514_string() or "(empty subject)", csr.dns_names, csr.ip_addresses, key,
                      facts.spki_sha256, csr.sha256)


def certificate_names(pem: str) -> tuple[str, list[str]]:
    """A certificate's subject and the names in its subjectAltName."""
    cert = x509.load_pem_x509_certificate(pem.encode())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(v) for v in san.get_values_for_type(x509.DNSName)] + [
            str(v) for v in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        names = []
    return cert.subject.rfc4514_string(), names
