"""The ACME tables: nonces, EAB keys, accounts, orders, authorizations, challenges, renewal marks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel

from service.db.models import _no_items, _ts


class AcmeNonce(SQLModel, table=True):
    """A nonce handed out and not yet used: deleting the row is what consumes it."""

    __tablename__ = "acme_nonces"
    value: str = Field(primary_key=True, max_length=64)
    expires_at: datetime = _ts(nullable=False, index=True)


class AcmeEabKey(SQLModel, table=True):
    """An External Account Binding key: binds the one account made with it to a requester."""

    __tablename__ = "acme_eab_keys"
    kid: str = Field(primary_key=True, max_length=64)
    requester: str = Field(index=True, max_length=200)
    # The MAC key itself (HMAC needs it, a digest would not do); never shown after `create`.
    hmac_key: str = Field(max_length=100)
    created_at: datetime = _ts(nullable=False)
    created_by: str = Field(max_length=200)
    revoked_at: datetime | None = _ts(nullable=True)
    account_id: str | None = Field(default=None, max_length=36)


class AcmeAccount(SQLModel, table=True):
    """An ACME account: its key and the requester it acts as."""

    __tablename__ = "acme_accounts"
    id: str = Field(primary_key=True, max_length=36)
    thumbprint: str = Field(unique=True, max_length=64)
    jwk: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    requester: str = Field(index=True, max_length=200)
    status: str = Field(max_length=20)
    contact: list[str] = Field(default_factory=_no_items, sa_column=Column(JSON, nullable=False))
    eab_kid: str | None = Field(default=None, max_length=64)
    created_at: datetime = _ts(nullable=False)


class AcmeOrder(SQLModel, table=True):
    """An order; once finalized, `request_id` ties it to the certificate request it became."""

    __tablename__ = "acme_orders"
    id: str = Field(primary_key=True, max_length=36)
    account_id: str = Field(foreign_key="acme_accounts.id", index=True, max_length=36)
    status: str = Field(max_length=20)
    identifiers: list[dict[str, str]] = Field(default_factory=_no_items, sa_column=Column(JSON, nullable=False))
    expires_at: datetime = _ts(nullable=False)
    error: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    request_id: str | None = Field(default=None, index=True, max_length=36)
    replaces: str | None = Field(default=None, max_length=200)
    created_at: datetime = _ts(nullable=False)


class AcmeAuthorization(SQLModel, table=True):
    """The account's proof of control of one identifier, for one order."""

    __tablename__ = "acme_authorizations"
    id: str = Field(primary_key=True, max_length=36)
    order_id: str = Field(foreign_key="acme_orders.id", index=True, max_length=36)
    kind: str = Field(max_length=10)
    value: str = Field(max_length=260)
    status: str = Field(max_length=20)
    expires_at: datetime = _ts(nullable=False)


class AcmeChallenge(SQLModel, table=True):
    """One way to prove an authorization; `record` keeps what validation fetched from where."""

    __tablename__ = "acme_challenges"
    id: str = Field(primary_key=True, max_length=36)
    authz_id: str = Field(foreign_key="acme_authorizations.id", index=True, max_length=36)
    type: str = Field(max_length=20)
    token: str = Field(max_length=64)
    status: str = Field(index=True, max_length=20)
    claimed_until: datetime | None = _ts(nullable=True)
    validated_at: datetime | None = _ts(nullable=True)
    error: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    record: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class AcmeRenewalMark(SQLModel, table=True):
    """An admin's mass-replacement mark: every certificate of this issuer issued before `at` renews now (ARI)."""

    __tablename__ = "acme_renewal_marks"
    id: int | None = Field(default=None, primary_key=True)
    issuer_key_id: str = Field(max_length=64)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    at: datetime = _ts(nullable=False)
    created_by: str = Field(max_length=200)
