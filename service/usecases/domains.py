"""The owned-domain registry: add, remove, import (all or nothing), list.

As with the ranges, each change appends its audit event first (which takes the log-head lock)
and only then its `domain_changes` row, so change numbers commit in order and a worker that
replays the change log never skips one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, func, select

from policies.names import InvalidName, internal_reason, normalise_name, syntax_problem
from policies.suffixes import PublicSuffixes
from service.audit.log import append_event
from service.db.models import DomainChange, OwnedDomain, table_of
from service.errors import BadRequest, Conflict, NotFound, PolicyRejected

IMPORT_CHUNK = 20_000


def canonical_domain(text: str, suffixes: PublicSuffixes, *, allow_internal: bool = False) -> str:
    """The registry's form of a domain: lowercase A-labels, checked to be ownable.

    Raises:
        BadRequest: not a domain name (syntax, a wildcard).
        PolicyRejected: `name_not_allowed` for an internal name or a public suffix, which nobody owns.
    """
    try:
        domain = normalise_name(text)
    except InvalidName as exc:
        raise BadRequest(str(exc)) from exc
    if domain.startswith("*."):
        raise BadRequest(f"{text!r}: register the domain itself; it covers every name under it")
    problem = syntax_problem(domain)
    if problem is not None:
        raise BadRequest(f"{text!r} is not a domain name: {problem}")
    why = None if allow_internal else internal_reason(domain)
    found = suffixes.match(domain)
    if why is None and not found.known and not allow_internal:
        why = f".{found.suffix} is not a top-level domain of the public DNS (Public Suffix List)"
    if why is None and found.known and found.suffix == domain:
        why = f"{domain} is a public suffix ({found.section} section of the Public Suffix List); nobody owns it"
    if why is not None:
        violation = {"rule": "domains.ownable", "code": "name_not_allowed", "message": why, "subject": domain}
        raise PolicyRejected("name_not_allowed", why, [violation])
    return domain


def add_domain(session: Session, *, domain: str, owner: str, actor: str, now: datetime, suffixes: PublicSuffixes,
               allow_internal: bool = False) -> OwnedDomain:
    """Register one owned domain.

    Raises:
        BadRequest, PolicyRejected: see `canonical_domain`.
        Conflict: the domain is registered already.
    """
    canonical = canonical_domain(domain, suffixes, allow_internal=allow_internal)
    if session.exec(select(OwnedDomain).where(OwnedDomain.domain == canonical)).first() is not None:
        raise Conflict(f"{canonical} is registered already")
    row = OwnedDomain(domain=canonical, owner=owner, created_at=now, created_by=actor)
    session.add(row)
    session.flush()
    assert row.id is not None
    append_event(session, event="domain:added", actor=actor, subject=f"domain:{canonical}",
                 data={"domain_id": row.id, "domain": canonical, "owner": owner}, at=now)
    session.add(DomainChange(op="add", domain_id=row.id, domain=canonical, owner=owner))
    return row


def remove_domain(session: Session, *, domain_id: int | None = None, domain: str | None = None, actor: str,
                  now: datetime) -> OwnedDomain:
    """Remove a domain by id or by name.

    Raises:
        NotFound: no such domain.
    """
    if domain_id is not None:
        row = session.get(OwnedDomain, domain_id)
    else:
        try:
            name = normalise_name(domain or "")
        except InvalidName as exc:
            raise BadRequest(str(exc)) from exc
        row = session.exec(select(OwnedDomain).where(OwnedDomain.domain == name)).first()
    if row is None:
        raise NotFound("no such owned domain")
    assert row.id is not None
    session.delete(row)
    append_event(session, event="domain:removed", actor=actor, subject=f"domain:{row.domain}",
                 data={"domain_id": row.id, "domain": row.domain, "owner": row.owner}, at=now)
    session.add(DomainChange(op="remove", domain_id=row.id, domain=row.domain, owner=row.owner))
    return row


@dataclass(frozen=True)
class ParsedDomains:
    """A whole import file checked before anything is written: (domain, owner) pairs and rejects."""

    domains: list[tuple[str, str]]
    rejected: list[tuple[int, str, str]]
    sha256: str


def parse_domain_import(lines: Iterable[str], suffixes: PublicSuffixes, *, allow_internal: bool = False) -> ParsedDomains:
    """Check every line (`DOMAIN[,owner]`, `#` comments); collect rejects with their line numbers."""
    digest = hashlib.sha256()
    found: dict[str, str] = {}
    rejected: list[tuple[int, str, str]] = []
    for number, line in enumerate(lines, start=1):
        digest.update(line.encode())
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        name, _, owner = text.partition(",")
        try:
            found.setdefault(canonical_domain(name.strip(), suffixes, allow_internal=allow_internal), owner.strip())
        except (BadRequest, PolicyRejected) as exc:
            rejected.append((number, line.rstrip("\n"), exc.message))
    return ParsedDomains(list(found.items()), rejected, digest.hexdigest())


@dataclass(frozen=True)
class DomainImportResult:
    """What an import did."""

    added: int
    unchanged: int
    sha256: str


def import_domains(session: Session, parsed: ParsedDomains, *, actor: str, now: datetime) -> DomainImportResult:
    """Add every domain of a checked import in this transaction (all or nothing).

    Raises:
        BadRequest: the file had rejected lines (nothing is written).
    """
    if parsed.rejected:
        raise BadRequest(f"{len(parsed.rejected)} lines rejected; nothing imported")
    existing = set(session.exec(select(OwnedDomain.domain)).all())
    new = [(d, o) for d, o in parsed.domains if d not in existing]
    append_event(session, event="domain:imported", actor=actor, subject="domains",
                 data={"added": len(new), "unchanged": len(parsed.domains) - len(new), "file_sha256": parsed.sha256}, at=now)
    # The driver's executemany, not the ORM: 100,000 ORM rows take over a minute, these a second or two.
    connection = session.connection()
    marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    bind = table_of(OwnedDomain).c.created_at.type.bind_processor(connection.dialect)
    stamp = bind(now) if bind is not None else now
    sql = f"INSERT INTO owned_domains (domain, owner, created_at, created_by) VALUES ({', '.join([marker] * 4)})"
    for start in range(0, len(new), IMPORT_CHUNK):
        connection.exec_driver_sql(sql, [(d, o, stamp, actor) for d, o in new[start:start + IMPORT_CHUNK]])
    # One 'reload' change: workers rebuild from the table instead of replaying every row.
    session.add(DomainChange(op="reload", domain_id=0, domain="", owner=""))
    return DomainImportResult(len(new), len(parsed.domains) - len(new), parsed.sha256)


def list_domains(session: Session, *, page: int, per_page: int, owner: str | None = None) -> tuple[list[OwnedDomain], int]:
    """One page of the registry in id order (optionally one owner's), and the total."""
    query = select(OwnedDomain)
    count = select(func.count()).select_from(OwnedDomain)
    if owner is not None:
        query, count = query.where(OwnedDomain.owner == owner), count.where(OwnedDomain.owner == owner)
    rows = session.exec(query.order_by(col(OwnedDomain.id)).offset((page - 1) * per_page).limit(per_page)).all()
    return list(rows), session.exec(count).one()
