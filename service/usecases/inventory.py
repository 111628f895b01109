"""The certificate inventory: search by IP or CIDR, DNS name or suffix, serial, status, requester, dates."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, false, or_
from sqlmodel import Session, col, func, select

from service.db.models import Certificate, CertificateName, OwnedDomain

from service.domain import Role
from service.errors import BadRequest, Forbidden, NotFound
from service.inventory_names import cidr_key_range, dns_key
from service.tokens import Principal


@dataclass(frozen=True)
class InventoryQuery:
    """Filters; every one optional. `dns` of the form `*.example.com` or `.example.com` is a suffix.

    `domain` matches certificates naming that domain or any name under it; `owner` those naming
    a name under any owned domain of that owner (as the registry says at query time).
    """

    ip: str | None = None
    dns: str | None = None
    serial: str | None = None
    status: str | None = None
    requester: str | None = None
    issued_after: datetime | None = None
    issued_before: datetime | None = None
    expiring_within_days: int | None = None
    domain: str | None = None
    owner: str | None = None
    issuing_ca: int | None = None  # the issuing CA generation (`certgate ca status`)


def _under(domain: str) -> Any:
    """Certificates naming `domain` itself or any name under it (reversed labels: a key prefix)."""
    base = dns_key(domain.strip().lower().lstrip("*").lstrip("."))
    return or_(_name_filter("dns", base), _name_filter("dns", base + ".", base + ".\U0010ffff"))


def _name_filter(kind: str, low: str, high: str | None = None) -> Any:
    cond: list[Any] = [CertificateName.certificate_id == Certificate.id, CertificateName.kind == kind]
    cond += [CertificateName.value >= low, CertificateName.value <= high] if high is not None else [CertificateName.value == low]
    return exists().where(and_(*cond))


def _conditions(q: InventoryQuery, now: datetime, session: Session) -> list[Any]:
    """SQL conditions for `q`.

    Raises:
        BadRequest: an IP/CIDR that does not parse, or an unknown status.
    """
    conds: list[Any] = []
    if q.ip:
        try:
            low, high = cidr_key_range(q.ip.strip())
        except ValueError as exc:
            raise BadRequest(f"ip: {q.ip!r} is neither an address nor a CIDR") from exc
        conds.append(_name_filter("ip", low, high) if low != high else _name_filter("ip", low))
    if q.dns:
        name = q.dns.strip().lower()
        if name.startswith(("*.", ".")):
            # Suffix: every name under it; reversed labels turn the suffix into a key prefix.
            base = dns_key(name.lstrip("*").lstrip("."))
            conds.append(_name_filter("dns", base + ".", base + ".\U0010ffff"))
        else:
            conds.append(_name_filter("dns", dns_key(name)))
    if q.domain:
        conds.append(_under(q.domain))
    if q.owner is not None:
        owned = session.exec(select(OwnedDomain.domain).where(OwnedDomain.owner == q.owner)).all()
        conds.append(or_(*(_under(d) for d in owned)) if owned else false())
    if q.serial:
        conds.append(Certificate.serial_number == q.serial.lower().replace(":", ""))
    if q.status:
        if q.status == "revoked":
            conds.append(col(Certificate.revoked_at).is_not(None))
        elif q.status == "valid":
            conds += [col(Certificate.revoked_at).is_(None), Certificate.not_after > now]
        elif q.status == "expired":
            conds += [col(Certificate.revoked_at).is_(None), Certificate.not_after <= now]
        else:
            raise BadRequest("status must be valid, expired or revoked")
    if q.requester:
        conds.append(Certificate.requester == q.requester)
    if q.issued_after:
        conds.append(Certificate.issued_at >= q.issued_after)
    if q.issued_before:
        conds.append(Certificate.issued_at < q.issued_before)
    if q.issuing_ca is not None:
        conds.append(Certificate.issuer_ca == q.issuing_ca)
    if q.expiring_within_days is not None:
        conds += [col(Certificate.revoked_at).is_(None), Certificate.not_after > now,
                  Certificate.not_after <= now + timedelta(days=q.expiring_within_days)]
    return conds


def search_certificates(session: Session, q: InventoryQuery, *, now: datetime, page: int, per_page: int) -> tuple[list[Certificate], int]:
    """One page of matching certificates in a stable order (issue time, then id), and the total."""
    conds = _conditions(q, now, session)
    rows = session.exec(select(Certificate).where(*conds).order_by(col(Certificate.issued_at), col(Certificate.id))
                        .offset((page - 1) * per_page).limit(per_page)).all()
    total = session.exec(select(func.count()).select_from(Certificate).where(*conds)).one()
    return list(rows), total


def get_certificate(session: Session, serial: str, reader: Principal) -> Certificate:
    """One certificate by serial (lowercase hex), if `reader` may see it.

    Raises:
        NotFound: no such serial.
        Forbidden: a requester asking for somebody else's certificate.
    """
    cert = session.exec(select(Certificate).where(Certificate.serial_number == serial.lower().replace(":", ""))).first()
    if cert is None:
        raise NotFound(f"no certificate with serial {serial}")
    if reader.role == Role.REQUESTER and cert.requester != reader.name:
        raise Forbidden("requesters read only their own certificates")
    return cert


def iter_certificates(session: Session, q: InventoryQuery, *, now: datetime) -> Iterator[dict[str, Any]]:
    """Every matching certificate as a plain dict, streamed in the stable order (for exports)."""
    query = select(Certificate).where(*_conditions(q, now, session)).order_by(col(Certificate.issued_at), col(Certificate.id))
    for cert in session.exec(query.execution_options(yield_per=2000)):
        yield {"serial_number": cert.serial_number, "status": cert.status_at(now), "requester": cert.requester,
               "common_name": cert.common_name, "not_before": cert.not_before.isoformat(),
               "not_after": cert.not_after.isoformat(), "issued_at": cert.issued_at.isoformat(),
               "revoked_at": cert.revoked_at.isoformat() if cert.revoked_at else "",
               "revocation_reason": cert.revocation_reason or "", "sha256_fingerprint": cert.sha256_fingerprint,
               "request_id": cert.request_id, "pem": cert.pem}
