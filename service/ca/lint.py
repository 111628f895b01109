"""Pre-issuance linting with pkilint's CA/B Forum TLS (serverauth) validators, as Let's Encrypt does.

Building a pkilint validator tree costs as much as linting some seventy certificates (about
0.35 s against 5 ms of CPU here), so a `Linter` builds one per certificate type once, up front,
and reuses it for every lint. No pkilint 0.13 validator writes to itself while it runs, so one
`Linter` may serve many threads. What every leaf of the CA repeats (the extension and issuer
name values pkilint decodes, the syntax of the CA's URLs) is remembered in a bounded, locked
memo (`lint_memo`) shared by those threads; so are, for the parts of a leaf that repeat byte for
byte (issuer, signature algorithm, extensions but the SAN), their decoded node trees
(`lint_parts`) and what the validators found in them (`lint_replay`: calls that read outside
the part run again for every leaf). Each node is offered only the validators that can match it
(`lint_dispatch`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cryptography import x509
from pkilint import finding_filter, loader, validation
from pkilint.cabf import serverauth
from pkilint.cabf.serverauth.serverauth_constants import CertificateType
from pkilint.document import create_and_append_node_from_pdu
from pkilint.pkix import certificate as pkix_certificate

from service.ca.lint_dispatch import index_dispatch
from service.ca.lint_memo import LintMemo, SplicedDecoder, memoize
from service.ca.lint_parts import build_tree
from service.ca.lint_replay import PartReplay, decoders_stay_below, decodes

_SEVERITY = validation.ValidationFindingSeverity


class LintSeverity(StrEnum):
    """pkilint's severities by name, most severe first."""

    FATAL = "FATAL"
    ERROR = "ERROR"
    WARNING = "WARNING"
    NOTICE = "NOTICE"
    INFO = "INFO"
    DEBUG = "DEBUG"

    @property
    def is_blocking(self) -> bool:
        """ERROR and FATAL stop an issuance; the rest are reported only."""
        return bool(_SEVERITY[self.value] <= _SEVERITY.ERROR)


@dataclass(frozen=True)
class LintFinding:
    """One pkilint finding: its code (e.g. `cabf.internal_ip_address`), severity, message and node."""

    code: str
    severity: LintSeverity
    message: str
    node_path: str

    def as_violation(self) -> dict[str, Any]:
        """The finding in the shape of a contract violation (for `LintFailed.violations`)."""
        return {
            "rule": "lint",
            "code": self.code,
            "message": self.message or self.code,
            "subject": self.node_path,
            "severity": str(self.severity),
        }


class LeafKind(StrEnum):
    """The subscriber certificate types our profile issues."""

    DV = "dv"
    OV = "ov"


_LEAF_TYPES = {LeafKind.DV: CertificateType.DV_FINAL_CERTIFICATE, LeafKind.OV: CertificateType.OV_FINAL_CERTIFICATE}
_POLICY_OIDS = {"2.23.140.1.2.1": LeafKind.DV, "2.23.140.1.2.2": LeafKind.OV}


class _CompiledLint:
    """One pkilint validator tree and its finding filters, for one certificate type."""

    def __init__(self, cert_type: CertificateType, *, indexed: bool = True, memo: LintMemo | None = None,
                 spliced: SplicedDecoder | None = None, replay: PartReplay | None = None) -> None:
        self._validator = pkix_certificate.create_pkix_certificate_validator_container(
            serverauth.create_decoding_validators(), serverauth.create_validators(cert_type)
        )
        if replay is not None and not decoders_stay_below(self._validator):
            replay = None
        if indexed:
            index_dispatch(self._validator, replay)
        if memo is not None:
            memoize(self._validator, memo)
        self._filters = serverauth.create_serverauth_finding_filters(cert_type)
        self._loader = loader.RFC5280CertificateDocumentLoader()
        self._spliced = spliced
        self._decoder = next((v for v in self._validator.validators
                              if isinstance(v, validation.ValidatorContainer) and decodes(v)), None)
        self._replay = replay if indexed and self._decoder is not None else None

    def _load(self, cert_der: bytes, fresh: list[tuple[tuple[Any, ...], Any]]) -> Any:
        """pkilint's certificate document for `cert_der`, spliced from remembered parts where it can be."""
        parts: dict[str, bytes] = {}
        decoded = self._spliced.decode(cert_der, fresh, parts) if self._spliced is not None else None
        if decoded is None:
            return self._loader.load_der_document(cert_der, "certificate")
        document = pkix_certificate.RFC5280Certificate(None, cert_der, "certificate")
        if self._replay is None:
            document.root = create_and_append_node_from_pdu(document, decoded)
            return document
        # For `lint_replay`: the repeated parts' DER by path, the parts copied from a template, the
        # templates taken during this lint.
        document.certgate_parts = parts
        document.certgate_copied = {}
        document.certgate_pending = []
        templates = self._replay.templates(self._decoder, parts)
        document.root = build_tree(document, decoded, templates, document.certgate_copied)
        return document

    def run(self, cert_der: bytes) -> list[LintFinding]:
        fresh: list[tuple[tuple[Any, ...], Any]] = []
        try:
            document = self._load(cert_der, fresh)
        except ValueError as exc:
            return [LintFinding("certgate.undecodable_certificate", LintSeverity.FATAL, str(exc), "certificate")]
        try:
            results = self._validator.validate(document.root)
            if self._replay is not None:
                self._replay.finish(document)
            if self._spliced is not None:
                self._spliced.remember(fresh)  # every value's node tree is built by now
            # The same filters `lint_cabf_serverauth_cert` applies by default: PKIX findings the BRs supersede.
            results, _ = finding_filter.filter_results(self._filters, results)
            return [
                LintFinding(
                    code=description.finding.code,
                    severity=LintSeverity(description.finding.severity.name),
                    message=description.message or "",
                    node_path=result.node.path,
                )
                for result in results
                for description in result.finding_descriptions
            ]
        finally:
            _unlink_tree(document.root)


def _unlink_tree(root: Any) -> None:
    """Break the node tree's reference cycles once its findings are read.

    Each pkilint node points at its parent, its children and the document, so a linted
    certificate's tree (hundreds of nodes) is garbage only the cyclic collector can free: it
    survives the young collections that run while the next certificate is linted and is then
    walked again by the older ones (0.4-0.5 ms of collector time per linted issuance, measured
    with `gc.callbacks` over 400 requests in-process). Unlinked, reference counting frees it at once.
    """
    stack = [root]
    while stack:
        node = stack.pop()
        children = node.children
        node.parent = None
        node.document = None
        if children:
            stack.extend(children.values())
            node.children = {}


_CA_URL_NODES = (".cRLDistributionPoints.", ".authorityInfoAccessSyntax.")
INTERNAL_NAME_CODES = frozenset({"cabf.internal_domain_name", "cabf.internal_ip_address"})


def is_ca_url_finding(finding: LintFinding) -> bool:
    """True for an internal-name finding about the CA's own CRL, OCSP or caIssuers URL.

    Those URLs come from `CERTGATE_BASE_URL`, the same in every certificate; a local deployment
    (the default `http://127.0.0.1:8000`) makes pkilint flag each one. That is a fact about the
    deployment, not about the certificate being linted, so the CA sets such findings aside (and
    records them as waived) instead of refusing every issuance.
    """
    return finding.code in INTERNAL_NAME_CODES and any(n in finding.node_path for n in _CA_URL_NODES)


def blocking(findings: Iterable[LintFinding]) -> list[LintFinding]:
    """The findings at ERROR or above, which stop an issuance."""
    return [f for f in findings if f.severity.is_blocking]


class Linter:
    """Lints leaf certificates before they are signed, with validators built once.

    The certificate type (DV or OV) is read from the policy OID our profile wrote, so the validator
    matches what was actually built.
    """

    def __init__(self, kinds: Iterable[LeafKind] = (LeafKind.DV, LeafKind.OV), *, indexed: bool = True,
                 memoized: bool = True, spliced: bool = True, replayed: bool = True) -> None:
        """Build the validators for `kinds` now (about 0.35 s of CPU each), never per certificate.

        `indexed=False` keeps pkilint's own dispatch, `memoized=False` decodes every extension
        and name value and checks every URI afresh, `spliced=False` decodes every certificate
        whole and `replayed=False` runs every validator on the parts every leaf repeats (all
        slower, same findings), for comparison. Replay needs the indexed dispatch and the
        spliced decoder (which finds the parts).
        One `LintMemo` serves all kinds: the issuer name and most of the CA's extensions are the
        same in DV and OV leaves.
        """
        self.memo = LintMemo() if memoized else None
        decoder = SplicedDecoder(self.memo) if self.memo is not None and spliced else None
        self.replay = PartReplay() if replayed and indexed and decoder is not None else None
        self._compiled = {kind: _CompiledLint(_LEAF_TYPES[kind], indexed=indexed, memo=self.memo, spliced=decoder,
                                              replay=self.replay) for kind in kinds}

    def lint(self, cert_der: bytes, kind: LeafKind | None = None) -> list[LintFinding]:
        """All findings for a DER leaf certificate (`kind` is detected from its policy OID when not given).

        Raises:
            ValueError: `kind` (given or detected) is one this linter was not built for.
        """
        kind = kind or _detect_kind(cert_der)
        compiled = self._compiled.get(kind)
        if compiled is None:
            raise ValueError(f"this linter was not built for {kind} certificates")
        return compiled.run(cert_der)

    @staticmethod
    def blocking(findings: Iterable[LintFinding]) -> list[LintFinding]:
        """The findings at ERROR or above, which stop an issuance."""
        return blocking(findings)


def _detect_kind(cert_der: bytes) -> LeafKind:
    """DV or OV from the certificate's reserved policy OID; DV when none (as pkilint does)."""
    try:
        cert = x509.load_der_x509_certificate(cert_der)
        policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    except (ValueError, x509.ExtensionNotFound):
        return LeafKind.DV
    for info in policies:
        kind = _POLICY_OIDS.get(info.policy_identifier.dotted_string)
        if kind is not None:
            return kind
    return LeafKind.DV
