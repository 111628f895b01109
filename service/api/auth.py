"""Bearer-token authentication and the role check every protected view declares."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import current_app, g, request

from service.api.docs import errors
from service.domain import Role
from service.errors import Forbidden, Unauthorized
from service.process.runtime import Runtime
from service.tokens import Principal, authenticate

F = TypeVar("F", bound=Callable[..., Any])


def runtime() -> Runtime:
    """The process' runtime, as `create_app` stored it."""
    return cast(Runtime, current_app.extensions["certgate"])


def current_principal() -> Principal:
    """The caller, authenticated once per request.

    Raises:
        Unauthorized: no bearer token, or an unknown or revoked one.
    """
    principal = g.get("principal")
    if principal is None:
        principal = bearer_principal(runtime(), request.headers.get("Authorization", ""))
        g.principal = principal
    return cast(Principal, principal)


def bearer_principal(rt: Runtime, authorization: str) -> Principal:
    """The principal of an `Authorization: Bearer TOKEN` header's value.

    Raises:
        Unauthorized: no bearer token, or an unknown or revoked one.
    """
    scheme, _, secret = authorization.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthorized("an 'Authorization: Bearer TOKEN' header is required")
    with rt.db.direct_read() as reads:
        return authenticate(reads, secret.strip())


def check_role(principal: Principal, roles: tuple[Role, ...]) -> None:
    """Raises:
        Forbidden: `principal` holds none of `roles`.
    """
    if principal.role not in roles:
        raise Forbidden(f"role {principal.role.value!r} may not do this")


def require(*roles: Role) -> Callable[[F], F]:
    """Allow a view to `roles` only: 401 without a valid token, 403 with another role."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            check_role(current_principal(), roles)
            return view(*args, **kwargs)

        return errors(401, 403)(cast(F, wrapper))

    return decorate


ANY_ROLE = tuple(Role)
