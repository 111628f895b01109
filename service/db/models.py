"""The tables. Rows stay here: the API never returns them as they are (schemas do the wire)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, LargeBinary, SmallInteger, Table, Text, UniqueConstraint
from sqlalchemy.orm import configure_mappers
from sqlmodel import Field, SQLModel

from service.db.types import UtcDateTime


def _no_items() -> list[Any]:
    """An empty list default. A plain function: pydantic inspects `list` itself for ~0.4 ms a row."""
    return []


def _no_fields() -> dict[str, Any]:
    """An empty dict default (see `_no_items`)."""
    return {}


def _ts(**kw: Any) -> Any:
    return Field(sa_column=Column(UtcDateTime(), **kw))


class ApiToken(SQLModel, table=True):
    """An API token: only the SHA-256 of the secret is kept."""

    __tablename__ = "api_tokens"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=200)
    role: str = Field(max_length=20)
    token_hash: str = Field(unique=True, max_length=64)
    created_at: datetime = _ts(nullable=False)
    revoked_at: datetime | None = _ts(nullable=True)


class CertificateRequest(SQLModel, table=True):
    """A submitted CSR and the decision it got."""

    __tablename__ = "requests"
    id: str = Field(primary_key=True, max_length=36)
    requester: str = Field(index=True, max_length=200)
    status: str = Field(index=True, max_length=30)
    csr_pem: str = Field(sa_column=Column(Text, nullable=False))
    csr_sha256: str = Field(max_length=64)
    common_name: str | None = Field(default=None, max_length=400)
    named_ips: list[str] = Field(default_factory=_no_items, sa_column=Column(JSON, nullable=False))
    violations: list[dict[str, str]] = Field(default_factory=_no_items, sa_column=Column(JSON, nullable=False))
    waived: list[dict[str, str]] = Field(default_factory=_no_items, sa_column=Column(JSON, nullable=False))
    policy_version: str = Field(max_length=80)
    validity_days: int
    client_auth: bool = False
    justification: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    grant_id: str | None = Field(default=None, max_length=36)
    created_at: datetime = _ts(nullable=False)
    decided_at: datetime | None = _ts(nullable=True)


class Certificate(SQLModel, table=True):
    """An issued certificate; the serial is unique by constraint, not by luck alone."""

    __tablename__ = "certificates"
    __table_args__ = (
        Index("ix_certificates_issued_at_id", "issued_at", "id"),
        Index("ix_certificates_requester_issued_at_id", "requester", "issued_at", "id"),
        Index("ix_certificates_revoked_at", "revoked_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    serial_number: str = Field(unique=True, max_length=64)
    request_id: str = Field(foreign_key="requests.id", unique=True, max_length=36)
    requester: str = Field(max_length=200)
    common_name: str | None = Field(default=None, max_length=400)
    pem: str = Field(sa_column=Column(Text, nullable=False))
    sha256_fingerprint: str = Field(max_length=64)
    not_before: datetime = _ts(nullable=False)
    not_after: datetime = _ts(nullable=False, index=True)
    issued_at: datetime = _ts(nullable=False)
    revoked_at: datetime | None = _ts(nullable=True)
    revocation_reason: str | None = Field(default=None, max_length=40)
    # Which issuing CA generation signed it (`ca_generations.id`; 1 is the CA `certgate init` made).
    issuer_ca: int = Field(default=1, sa_column=Column(SmallInteger, nullable=False, server_default="1"))

    def status_at(self, now: datetime) -> str:
        """valid, expired or revoked (a revoked certificate stays revoked after it expires)."""
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.not_after <= now else "valid"


class CertificateName(SQLModel, table=True):
    """One name a certificate carries, in a form indexes can search.

    IPs are stored as 32 hex digits (IPv4 as its IPv4-mapped IPv6 form) so a CIDR is a string
    range; DNS names are stored reversed by label so a suffix is a prefix.
    """

    __tablename__ = "certificate_names"
    __table_args__ = (Index("ix_certificate_names_kind_value", "kind", "value"),)
    id: int | None = Field(default=None, primary_key=True)
    certificate_id: int = Field(foreign_key="certificates.id", index=True)
    kind: str = Field(max_length=3)
    value: str = Field(max_length=260)


class Review(SQLModel, table=True):
    """An exception: a request with IP violations waiting for approvers."""

    __tablename__ = "exceptions"
    id: str = Field(primary_key=True, max_length=36)
    request_id: str = Field(foreign_key="requests.id", unique=True, max_length=36)
    requester: str = Field(max_length=200)
    status: str = Field(index=True, max_length=20)
    violations: list[dict[str, str]] = Field(default_factory=_no_items, sa_column=Column(JSON, nullable=False))
    csr_sha256: str = Field(max_length=64)
    policy_version: str = Field(max_length=80)
    created_at: datetime = _ts(nullable=False, index=True)
    expires_at: datetime = _ts(nullable=False)
    decided_at: datetime | None = _ts(nullable=True)


class Approval(SQLModel, table=True):
    """One approver's yes (or the no that ended a review), bound to the CSR and policy version."""

    __tablename__ = "approvals"
    __table_args__ = (UniqueConstraint("exception_id", "approver"),)
    id: int | None = Field(default=None, primary_key=True)
    exception_id: str = Field(foreign_key="exceptions.id", index=True, max_length=36)
    approver: str = Field(max_length=200)
    decision: str = Field(max_length=10)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    csr_sha256: str = Field(max_length=64)
    policy_version: str = Field(max_length=80)
    grant_days: int | None = None
    at: datetime = _ts(nullable=False)


class Grant(SQLModel, table=True):
    """A renewal grant: the requester's later requests naming only these IPs and DNS names issue at once."""

    __tablename__ = "grants"
    id: str = Field(primary_key=True, max_length=36)
    requester: str = Field(index=True, max_length=200)
    exception_id: str = Field(foreign_key="exceptions.id", max_length=36)
    ip_addresses: list[str] = Field(default_factory=_no_items, sa_column=Column(JSON, nullable=False))
    dns_names: list[str] = Field(default_factory=_no_items, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _ts(nullable=False)
    expires_at: datetime = _ts(nullable=False)


class OwnedRange(SQLModel, table=True):
    """A CIDR the organisation owns."""

    __tablename__ = "owned_ranges"
    id: int | None = Field(default=None, primary_key=True)
    cidr: str = Field(unique=True, max_length=50)
    owner: str = Field(default="", max_length=200)
    # `cidr` again as numbers, written with it (`policies.range_rows.stored_first`): each worker
    # builds its index from these at start, and parsing a million CIDR texts took seconds.
    version: int = Field(sa_column=Column(SmallInteger, nullable=False))
    first_high: int = Field(sa_column=Column(BigInteger, nullable=False))
    first_low: int = Field(sa_column=Column(BigInteger, nullable=False))
    prefix_len: int = Field(sa_column=Column(SmallInteger, nullable=False))
    created_at: datetime = _ts(nullable=False)
    created_by: str = Field(max_length=200)


class RangeChange(SQLModel, table=True):
    """The registry's change log: workers replay it to keep their in-memory index current."""

    __tablename__ = "range_changes"
    seq: int | None = Field(default=None, primary_key=True)
    op: str = Field(max_length=6)
    range_id: int
    cidr: str = Field(max_length=50)
    owner: str = Field(default="", max_length=200)


class IdempotencyRecord(SQLModel, table=True):
    """A used `Idempotency-Key`: who sent it for what, the body's digest, and what it produced.

    The unique constraint is the whole concurrency story: the row is inserted in the same
    transaction as the state change it stands for, so of two racing requests with one key exactly
    one commits (`service.idempotency`).
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("caller", "scope", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    caller: str = Field(max_length=200)
    scope: str = Field(max_length=200)
    key: str = Field(max_length=255)
    body_sha256: str = Field(max_length=64)
    request_id: str | None = Field(default=None, max_length=36)
    answer: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = _ts(nullable=False)
    expires_at: datetime = _ts(nullable=False, index=True)


class OwnedDomain(SQLModel, table=True):
    """A DNS domain the organisation owns (lowercase A-labels): it and every name under it."""

    __tablename__ = "owned_domains"
    id: int | None = Field(default=None, primary_key=True)
    domain: str = Field(unique=True, max_length=253)
    owner: str = Field(default="", max_length=200)
    created_at: datetime = _ts(nullable=False)
    created_by: str = Field(max_length=200)


class DomainChange(SQLModel, table=True):
    """The domain registry's change log: workers replay it to keep their in-memory index current."""

    __tablename__ = "domain_changes"
    seq: int | None = Field(default=None, primary_key=True)
    op: str = Field(max_length=6)
    domain_id: int
    domain: str = Field(max_length=253)
    owner: str = Field(default="", max_length=200)


class AuditEvent(SQLModel, table=True):
    """A leaf of the audit log; `index` is gap-free, allocated under the log-head lock."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_event_at", "event", "at"),)
    index: int = Field(sa_column=Column("index", BigInteger, primary_key=True, autoincrement=False))
    event: str = Field(max_length=60)
    actor: str = Field(index=True, max_length=200)
    at: datetime = _ts(nullable=False, index=True)
    subject: str = Field(index=True, max_length=400)
    data: dict[str, Any] = Field(default_factory=_no_fields, sa_column=Column(JSON, nullable=False))
    leaf_hash: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    """The single row every audit writer locks to take the next index."""

    __tablename__ = "audit_head"
    id: int = Field(default=1, primary_key=True)
    size: int = Field(sa_column=Column(BigInteger, nullable=False))


class SignedTreeHead(SQLModel, table=True):
    """Every tree head the service signed and published."""

    __tablename__ = "signed_tree_heads"
    id: int | None = Field(default=None, primary_key=True)
    tree_size: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    root_hash: str = Field(max_length=64)
    timestamp: datetime = _ts(nullable=False)
    signature: str = Field(sa_column=Column(Text, nullable=False))
    key_id: str = Field(max_length=64)


class CompromisedKey(SQLModel, table=True):
    """A public key revoked for keyCompromise: never certified again (BR 6.1.1.3)."""

    __tablename__ = "compromised_keys"
    spki_sha256: str = Field(primary_key=True, max_length=64)
    serial_number: str = Field(max_length=64)
    at: datetime = _ts(nullable=False)


class CrlState(SQLModel, table=True):
    """The current CRL of one issuer, shared by every worker."""

    __tablename__ = "crl_state"
    issuer: str = Field(primary_key=True, max_length=20)
    crl_number: int = Field(sa_column=Column(BigInteger, nullable=False))
    this_update: datetime = _ts(nullable=False)
    next_update: datetime = _ts(nullable=False)
    der: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class CaGeneration(SQLModel, table=True):
    """An issuing CA made by `certgate ca rollover`, and when it becomes the signer.

    Generation 1 (the CA `certgate init` made) has no row: it signs from the beginning. Rows
    only grow; the highest id is the head that running servers compare against their own.
    """

    __tablename__ = "ca_generations"
    id: int = Field(sa_column=Column(SmallInteger, primary_key=True, autoincrement=False))
    subject: str = Field(max_length=400)
    certificate_sha256: str = Field(max_length=64)
    active_from: datetime = _ts(nullable=False)
    created_at: datetime = _ts(nullable=False)
    created_by: str = Field(max_length=200)


# The ACME edge's tables live beside these (registered on the same metadata before the mappers are configured).
from service.db import acme_models  # noqa: E402,F401

# The hot path builds answer rows with `model_construct`, which skips the first-use hook that
# would configure the mappers; configure them here, once, when the models are defined.

def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a table model, for direct statements (SQLModel sets `__table__` untyped)."""
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


configure_mappers()
