"""The error tree: every failure the service reports, with its contract code and HTTP status.

    CertgateError                      code                 status
    ├── MalformedCsr                   malformed_csr        400
    ├── BadRequest                     bad_request          400
    ├── PayloadTooLarge                payload_too_large    413
    ├── CsrSignatureInvalid            csr_signature_invalid 422
    ├── PolicyRejected                 (first violation)    422
    ├── LintFailed                     lint_failed          500-free 422 refusal
    ├── IdempotencyKeyReused           idempotency_key_reused 422
    ├── Unauthorized                   unauthorized         401
    ├── Forbidden                      forbidden            403
    ├── NotFound                       not_found            404
    ├── Conflict                       conflict             409
    ├── ServiceUnavailable             unavailable          503
    │   └── TokenUnavailable           unavailable          503 (the PKCS#11 token holding a CA key)
    ├── CaError                        ca_error             500 (the CA cannot sign)
    └── BackupRefused                  backup_refused       (CLI only: backup / restore refused)

The HTTP layer maps these in one place (`service.api.errors`); nothing else picks a status.
"""

from __future__ import annotations

from typing import Any, ClassVar


class CertgateError(Exception):
    """Base of every error the service reports to a client or an operator."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500

    def __init__(self, message: str, *, violations: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.violations = violations

    def as_body(self) -> dict[str, Any]:
        """The contract's error answer."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.violations is not None:
            error["violations"] = self.violations
        return {"error": error}


class MalformedCsr(CertgateError):
    """The body is not exactly one well-formed, unambiguous PKCS#10 request."""

    code = "malformed_csr"
    status = 400


class BadRequest(CertgateError):
    """A request body or query parameter fails validation."""

    code = "bad_request"
    status = 400


class PayloadTooLarge(CertgateError):
    """The body is over the size limit."""

    code = "payload_too_large"
    status = 413


class CsrSignatureInvalid(CertgateError):
    """The CSR's self-signature does not verify: no proof of possession."""

    code = "csr_signature_invalid"
    status = 422


class PolicyRejected(CertgateError):
    """The policy refused the request; `code` is the first refusing violation's code."""

    status = 422

    def __init__(
        self, code: str, message: str, violations: list[dict[str, Any]], *, request_id: str | None = None
    ) -> None:
        super().__init__(message, violations=violations)
        self.code = code  # type: ignore[misc]
        self.request_id = request_id

    def as_body(self) -> dict[str, Any]:
        """The contract's error answer, plus the id of the stored (rejected) request."""
        body = super().as_body()
        if self.request_id is not None:
            body["error"]["request_id"] = self.request_id
        return body


class LintFailed(CertgateError):
    """The pre-issuance lint found an error in a certificate the CA was about to sign."""

    code = "lint_failed"
    status = 422


class IdempotencyKeyReused(CertgateError):
    """An `Idempotency-Key` already used by this caller here, with another body."""

    code = "idempotency_key_reused"
    status = 422


class Unauthorized(CertgateError):
    """No token, or a token that is unknown or revoked."""

    code = "unauthorized"
    status = 401


class Forbidden(CertgateError):
    """The token's role may not do this, or the four-eyes rule forbids it."""

    code = "forbidden"
    status = 403


class NotFound(CertgateError):
    """No such request, exception, certificate, range or token."""

    code = "not_found"
    status = 404


class Conflict(CertgateError):
    """The change is illegal in the current state (already decided, already revoked, duplicate)."""

    code = "conflict"
    status = 409


class ServiceUnavailable(CertgateError):
    """A dependency (the database) is down; retry later."""

    code = "unavailable"
    status = 503


class TokenUnavailable(ServiceUnavailable):
    """The PKCS#11 token holding a CA key is missing, locked, or failed mid-signature; retry later."""


class CaError(CertgateError):
    """The CA is missing, unreadable or cannot sign."""

    code = "ca_error"
    status = 500


class BackupRefused(CertgateError):
    """`certgate backup` or `restore` refused: a live target, a tampered backup, a chain or log that fails."""

    code = "backup_refused"
    status = 500
