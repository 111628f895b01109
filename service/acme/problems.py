"""ACME problem documents (RFC 8555 §6.7): one error class, its `urn:ietf:params:acme:error:*` types."""

from __future__ import annotations

from typing import Any

ERROR_NS = "urn:ietf:params:acme:error:"

# type -> HTTP status (RFC 8555 leaves most open; these follow Boulder and Pebble).
STATUS: dict[str, int] = {
    "accountDoesNotExist": 400,
    "alreadyRevoked": 400,
    "badCSR": 400,
    "badNonce": 400,
    "badPublicKey": 400,
    "badRevocationReason": 400,
    "badSignatureAlgorithm": 400,
    "connection": 400,
    "externalAccountRequired": 400,
    "incorrectResponse": 400,
    "malformed": 400,
    "orderNotReady": 403,
    "rejectedIdentifier": 400,
    "serverInternal": 500,
    "unauthorized": 403,
    "unsupportedIdentifier": 400,
}


class AcmeProblem(Exception):
    """A failure answered as `application/problem+json` with an ACME error type."""

    def __init__(self, kind: str, detail: str, *, status: int | None = None,
                 subproblems: list[dict[str, Any]] | None = None, location: str | None = None,
                 retry_after: int | None = None, **extra: Any) -> None:
        super().__init__(detail)
        assert kind in STATUS, kind
        self.kind = kind
        self.detail = detail
        self.status = status or STATUS[kind]
        self.subproblems = subproblems
        self.extra = extra
        self.location = location  # answered as a Location header (409 on key-change)
        self.retry_after = retry_after

    def as_body(self) -> dict[str, Any]:
        """The problem document."""
        body: dict[str, Any] = {"type": ERROR_NS + self.kind, "detail": self.detail, "status": self.status, **self.extra}
        if self.subproblems:
            body["subproblems"] = self.subproblems
        return body


def subproblem(kind: str, detail: str, identifier: dict[str, str]) -> dict[str, Any]:
    """A per-identifier problem (RFC 8555 §6.7.1)."""
    return {"type": ERROR_NS + kind, "detail": detail, "identifier": identifier}


def not_found(what: str) -> AcmeProblem:
    """404 with the `malformed` type (RFC 8555 has no not-found type)."""
    return AcmeProblem("malformed", f"no such {what}", status=404)
