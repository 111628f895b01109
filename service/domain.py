"""Domain values shared by every edge: who may act (roles) and where a request or review stands."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a token may do (see the contract's role table)."""

    REQUESTER = "requester"
    APPROVER = "approver"
    AUDITOR = "auditor"
    ADMIN = "admin"


class RequestStatus(StrEnum):
    """Where a certificate request stands."""

    ISSUED = "issued"
    PENDING_EXCEPTION = "pending_exception"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


class ReviewStatus(StrEnum):
    """Where an exception (a human review of an IP violation) stands."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"
