"""Pre-issuance linting with pkilint's CA/Browser Forum TLS linter, as Let's Encrypt does.

The validator containers take ~170 ms to build, so a `Linter` builds each once and keeps it;
linting one certificate then costs a few milliseconds.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from pkilint import finding_filter, loader
from pkilint.cabf import serverauth
from pkilint.cabf.serverauth.serverauth_constants import CertificateType
from pkilint.pkix import certificate
from pkilint.validation import ValidationFindingSeverity

BLOCKING = frozenset({ValidationFindingSeverity.FATAL, ValidationFindingSeverity.ERROR})


@dataclass(frozen=True)
class LintFinding:
    """One pkilint finding: its code, severity name, message and where in the certificate."""

    code: str
    severity: str
    message: str
    node_path: str

    @property
    def blocking(self) -> bool:
        """True for error and fatal findings: the certificate must not be signed."""
        return self.severity in {s.name for s in BLOCKING}

    def as_violation(self) -> dict[str, str]:
        """The contract's violation shape."""
        return {"rule": "lint", "code": self.code, "message": self.message or self.code, "subject": self.node_path}


class Linter:
    """pkilint's serverauth linter with its validator containers built once per certificate type."""

    def __init__(self) -> None:
        self._containers: dict[CertificateType, object] = {}
        self._lock = threading.Lock()
        self._loader = loader.RFC5280CertificateDocumentLoader()

    def _container(self, kind: CertificateType) -> object:
        with self._lock:
            if kind not in self._containers:
                self._containers[kind] = certificate.create_pkix_certificate_validator_container(
                    serverauth.create_decoding_validators(), serverauth.create_validators(kind))
            return self._containers[kind]

    def warm(self, *kinds: CertificateType) -> None:
        """Build the containers now (at start-up, before workers fork), not on the first request."""
        for kind in kinds or (CertificateType.DV_FINAL_CERTIFICATE, CertificateType.OV_FINAL_CERTIFICATE):
            self._container(kind)

    def lint(self, der: bytes, kind: CertificateType | None = None) -> list[LintFinding]:
        """Every finding pkilint reports on a DER certificate, after its own superseded-finding filter."""
        doc = self._loader.load_der_document(der)
        kind = kind or serverauth.determine_certificate_type(doc)
        results = self._container(kind).validate(doc.root)  # type: ignore[attr-defined]
        results, _ = finding_filter.filter_results(serverauth.create_serverauth_finding_filters(kind), results)
        findings = []
        for result in results:
            for description in result.finding_descriptions:
                findings.append(LintFinding(description.finding.code, description.finding.severity.name,
                                            description.message or "", str(result.node.path)))
        return findings


def lint_ca_certificate(linter: Linter, der: bytes, kind: CertificateType) -> list[LintFinding]:
    """Lint a CA certificate as the given type (ROOT_CA or INTERNAL_UNCONSTRAINED_TLS_CA)."""
    return linter.lint(der, kind)

