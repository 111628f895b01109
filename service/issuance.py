"""Signing a judged request and recording the certificate with its audit event."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509

from policies.addresses import IpAddress, parse_ip
from policies.config import Policy
from policies.public_ip import AddressRule, not_public_reason
from policies.decision import Decision
from service.audit.log import NewEvent, append_events
from service.ca.authority import IssuedCertificate, new_serial
from service.ca.lint import INTERNAL_NAME_CODES, Linter, LintFinding, LintSeverity, is_ca_url_finding
from service.ca.profile import IssueOrder, leaf_names
from service.ca_roster import CaRoster
from service.errors import CertgateError, LintFailed, PolicyRejected
from service.csr import VerifiedCsr
from service.db.direct import DirectUnit
from service.db.models import Certificate, CertificateName, CertificateRequest, table_of
from service.inventory_names import dns_key, ip_key

log = logging.getLogger("certgate.ca")
BACKDATE = timedelta(minutes=1)  # tolerate relying parties whose clocks run a little behind


@dataclass(frozen=True)
class Issuer:
    """The issuing CAs (the one whose turn it is signs) with the lint gate in front of them."""

    roster: CaRoster
    linter: Linter | None

    def sign(
        self,
        csr: VerifiedCsr,
        decision: Decision,
        policy: Policy,
        *,
        client_auth: bool,
        now: datetime,
        approved_ips: frozenset[str] = frozenset(),
    ) -> IssuedCertificate:
        """Build the certificate from validated data only and sign it after the lint passes.

        Lint findings about exactly the `approved_ips` (reserved or unowned addresses that an
        approver or a grant accepted) are waived and recorded, never silently dropped.

        Raises:
            LintFailed: a blocking lint finding remains.
            CaError: the CA cannot sign.
            ServiceUnavailable: the database (asked whether a rollover happened) is unreachable.
        """
        ca = self.roster.current(now)
        not_before = now - BACKDATE
        order = IssueOrder(
            public_key=csr.public_key,
            common_name=csr.common_name,
            dns_names=csr.dns_names,
            ip_addresses=csr.ip_addresses,
            not_before=not_before,
            not_after=not_before + timedelta(days=decision.validity_days) - timedelta(seconds=1),
            serial=new_serial(),
            client_auth=client_auth and policy.allow_client_auth,
            organization=policy.organization,
            country=policy.country,
            state_or_province=policy.state_or_province,
            locality=policy.locality,
        )
        names = leaf_names(order)
        amend = None
        if self.linter is not None:  # the amendment only rewrites lint findings
            san_ips = [parse_ip(str(n.value)) for n in names[1] if isinstance(n, x509.IPAddress)]
            amend = ip_lint_amendment([ip for ip in san_ips if ip is not None], policy.address_rule)
        try:
            return ca.issue(order, linter=self.linter, waive=lint_waiver(approved_ips), amend=amend, names=names)
        except LintFailed as failure:
            raise _classify(failure) from None


REQUESTER_NODES = (".subjectAltName.", ".subject.rdnSequence")


def _classify(failure: LintFailed) -> CertgateError:
    """Findings only about names the requester chose are a refusal of the request; anything
    else means the CA's own profile or configuration is wrong, and raises the alarm."""
    violations = failure.violations or []
    if violations and all(any(node in v["subject"] for node in REQUESTER_NODES) for v in violations):
        names = ", ".join(sorted({_quoted(v["message"]) or v["code"] for v in violations}))
        return PolicyRejected("name_not_allowed", f"the certificate may not name {names}: {violations[0]['message']}",
                              [{**v, "code": "name_not_allowed", "rule": f"lint.{v['code']}"} for v in violations])
    log.error("ALERT pre-issuance lint refused a certificate; the CA profile needs attention: %s",
              ", ".join(v["code"] for v in violations))
    return failure


def _quoted(message: str) -> str:
    """pkilint quotes the offending value: 'Internal IP address: "10.0.0.5"'."""
    parts = message.split('"')
    return parts[1] if len(parts) >= 3 else ""


IP_FINDING = "cabf.internal_ip_address"
SAN_IP_NODE = "certificate.tbsCertificate.extensions.subjectAltName.iPAddress"


def ip_lint_amendment(ips: Sequence[IpAddress], rule: AddressRule) -> Callable[[list[LintFinding]], list[LintFinding]]:
    """The linter's IP-reservation finding, as the project judges it.

    pkilint judges SAN addresses with Python's `ipaddress`, whose answers (2001::/23 above all)
    change between patch releases and differ from the policy's own table. So its
    `cabf.internal_ip_address` findings on SAN addresses are dropped, and one is written for
    each SAN address that the policy's `rule` does not accept, in pkilint's words and at ERROR.
    An approved address then has its finding waived and recorded (`lint_waiver`); any other one
    stops the issuance. Every other lint finding stays as it is.
    """
    ours = [LintFinding(IP_FINDING, LintSeverity.ERROR, f'Internal IP address: "{ip.text}": {reason}', SAN_IP_NODE)
            for ip in ips if (reason := not_public_reason(ip, rule)) is not None]

    def amend(findings: list[LintFinding]) -> list[LintFinding]:
        return [f for f in findings if not (f.code == IP_FINDING and ".subjectAltName." in f.node_path)] + ours

    return amend


def lint_waiver(approved_ips: frozenset[str]) -> Callable[[LintFinding], bool]:
    """Which blocking lint findings issuance accepts (each one is recorded with the certificate).

    - an internal/reserved IP that an approver or a grant accepted, and only that IP;
    - an internal name in the CA's own CRL/OCSP/caIssuers URLs, which come from the operator's
      CERTGATE_BASE_URL (a private deployment at 127.0.0.1 is legitimate for an internal CA).
    """

    def waive(finding: LintFinding) -> bool:
        if is_ca_url_finding(finding):
            return True
        if finding.code not in INTERNAL_NAME_CODES:
            return False
        value = _quoted(finding.message)
        return bool(value) and _normalised(value) in approved_ips

    return waive


def _normalised(ip: str) -> str:
    parsed = parse_ip(ip)
    return parsed.text if parsed is not None else ip


_CERTIFICATES = table_of(Certificate)
_INSERT_NAME = table_of(CertificateName).insert()


def record_certificate(
    unit: DirectUnit,
    request: CertificateRequest,
    issued: IssuedCertificate,
    *,
    actor: str,
    now: datetime,
    cause: dict[str, str | None],
    preceded_by: Sequence[NewEvent] = (),
) -> Certificate:
    """Insert the certificate, its searchable names and its `certificate:issued` event.

    `preceded_by` are events of the same transaction that come before the issuance in the log
    (the submission's), appended in the same batch. Direct statements: the hot path of every
    issuance. The returned row is for the answer only.
    """
    row, issued_event = insert_certificate(unit, request, issued, actor=actor, now=now, cause=cause)
    append_events(unit, [*preceded_by, issued_event])
    return row


def insert_certificate(
    unit: DirectUnit,
    request: CertificateRequest,
    issued: IssuedCertificate,
    *,
    actor: str,
    now: datetime,
    cause: dict[str, str | None],
) -> tuple[Certificate, NewEvent]:
    """Insert the certificate and its searchable names; its `certificate:issued` event, for the
    caller to append in the same transaction (`insert_certificates` with one)."""
    return insert_certificates(unit, [NewCertificate(request, issued, cause)], actor=actor, now=now)[0]


@dataclass(frozen=True)
class NewCertificate:
    """A signed certificate to record for its request, and why it was issued (grant or exception)."""

    request: CertificateRequest
    issued: IssuedCertificate
    cause: dict[str, str | None]


def insert_certificates(
    unit: DirectUnit, certificates: Sequence[NewCertificate], *, actor: str, now: datetime
) -> list[tuple[Certificate, NewEvent]]:
    """Insert certificates and their searchable names, two statements for any number of them
    (one multi-row INSERT answering the ids, one `executemany` for the names); each one's row
    (for the answer) and `certificate:issued` event, in order, for the caller to append in the
    same transaction (a batch appends a whole chunk's events at once)."""
    if not certificates:
        return []
    rows = [_certificate_values(c, now) for c in certificates]
    ids = {serial: row_id for row_id, serial in unit.insert_returning(_CERTIFICATES, rows, ("id", "serial_number"))}
    out: list[tuple[Certificate, NewEvent]] = []
    names: list[dict[str, Any]] = []
    for new, values in zip(certificates, rows):
        row = Certificate.model_construct(id=ids[values["serial_number"]], revoked_at=None, revocation_reason=None, **values)
        keys = {("ip", ip_key(ip)) for ip in new.request.named_ips}
        keys |= {("dns", dns_key(n)) for n in new.issued.dns_names}
        names += [{"certificate_id": row.id, "kind": k, "value": v} for k, v in sorted(keys)]
        out.append((row, _issued_event(new, actor, now)))
    unit.insert_many(_INSERT_NAME, names)
    return out


def _certificate_values(new: NewCertificate, now: datetime) -> dict[str, Any]:
    issued, cert = new.issued, new.issued.certificate
    return {
        "serial_number": issued.serial_hex,
        "request_id": new.request.id,
        "requester": new.request.requester,
        "common_name": new.request.common_name,
        "pem": issued.pem,
        "sha256_fingerprint": issued.sha256_fingerprint,
        "not_before": cert.not_valid_before_utc,
        "not_after": cert.not_valid_after_utc,
        "issued_at": now,
        "issuer_ca": issued.issuer_generation,
    }


def _issued_event(new: NewCertificate, actor: str, now: datetime) -> NewEvent:
    issued, request = new.issued, new.request
    return NewEvent(
        event="certificate:issued",
        actor=actor,
        subject=f"certificate:{issued.serial_hex}",
        data={
            "request_id": request.id,
            "serial_number": issued.serial_hex,
            "certificate_sha256": issued.sha256_fingerprint,  # the SHA-256 of the DER, hex
            "requester": request.requester,
            "not_after": issued.certificate.not_valid_after_utc.isoformat(),
            "waived_lint": [f.code for f in issued.waived_lint],
            **({"issuing_ca": issued.issuer_generation} if issued.issuer_generation != 1 else {}),
            **new.cause,
        },
        at=now,
    )
