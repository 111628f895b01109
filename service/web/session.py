"""A console session: the signed cookie holds the token's id and two times, never the token itself.

Every request loads the token row by id, so a token revoked since sign-in ends the session at
once; the idle timeout and the absolute lifetime are checked against the runtime's clock.
"""

from __future__ import annotations

import functools
import os
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

from flask import current_app, g, session

from service.domain import Role
from service.errors import Forbidden, Unauthorized
from service.process.runtime import Runtime
from service.tokens import Principal, principal_by_id, sign_in

F = TypeVar("F", bound=Callable[..., Any])
KEY_FILE = "console-session.key"


class SignInRequired(Unauthorized):
    """No console session, or one that ended (idle, too old, token revoked): go to the sign-in page.

    `reason` is one of `SIGN_IN_REASONS`' keys: the sign-in page shows only its own words, never
    text from the URL.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(SIGN_IN_REASONS[reason])
        self.reason = reason


SIGN_IN_REASONS = {
    "required": "Please sign in.",
    "ended": "Your session has ended; please sign in again.",
    "revoked": "Your token was revoked; please sign in with another.",
    "signed-out": "You are signed out.",
}


def runtime() -> Runtime:
    """The process' runtime, as `create_app` stored it."""
    return cast(Runtime, current_app.extensions["certgate"])


def session_secret(data_dir: Path) -> bytes:
    """The key that signs console cookies: made once in the data dir (0600), shared by every worker."""
    path = data_dir / KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as out:
        key = secrets.token_bytes(32)
        out.write(key)
    return key


def begin(secret: str) -> Principal:
    """Sign in with an API token: a fresh session holding its id (the old one, and its CSRF token, go).

    Raises:
        Unauthorized: unknown or revoked token.
    """
    rt = runtime()
    with rt.db.direct_read() as reads:
        token_id, principal = sign_in(reads, secret.strip())
    now = rt.clock().timestamp()
    session.clear()
    session.permanent = True
    session.update({"tid": token_id, "since": now, "seen": now})
    return principal


def end() -> None:
    """Sign out: the cookie is emptied."""
    session.clear()


def current_person() -> Principal:
    """The signed-in person, checked once per request.

    Raises:
        SignInRequired: no session, idle too long, past its lifetime, or the token was revoked.
    """
    person = g.get("console_person")
    if person is not None:
        return cast(Principal, person)
    rt = runtime()
    token_id, since, seen = session.get("tid"), session.get("since"), session.get("seen")
    if not isinstance(token_id, int) or not isinstance(since, float) or not isinstance(seen, float):
        raise SignInRequired("required")
    now = rt.clock()
    idle = timedelta(minutes=rt.settings.console_idle_minutes)
    lifetime = timedelta(hours=rt.settings.console_lifetime_hours)
    if now - _at(seen) > idle or now - _at(since) > lifetime:
        session.clear()
        raise SignInRequired("ended")
    try:
        with rt.db.direct_read() as reads:
            person = principal_by_id(reads, token_id)
    except Unauthorized as exc:
        session.clear()
        raise SignInRequired("revoked") from exc
    session["seen"] = now.timestamp()
    g.console_person = person
    return person


def _at(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, runtime().clock().tzinfo)


def require(*roles: Role) -> Callable[[F], F]:
    """Allow a page to `roles` only: the sign-in page without a session, 403 with another role."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            person = current_person()
            if person.role not in roles:
                raise Forbidden(f"the {person.role.value} role may not open this page")
            return view(*args, **kwargs)

        wrapper.console_roles = roles  # type: ignore[attr-defined]  # read by the role-matrix test
        return cast(F, wrapper)

    return decorate


ANY_ROLE = tuple(Role)
