"""Sign-in with an API token, sign-out, and the home page each role lands on."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for

from service.domain import Role
from service.errors import Unauthorized
from service.web import session as console_session
from service.web.blueprint import bp
from service.web.session import ANY_ROLE, SIGN_IN_REASONS, require

LANDING = {Role.REQUESTER: "console.submit", Role.APPROVER: "console.queue", Role.AUDITOR: "console.audit_log",
           Role.ADMIN: "console.queue"}


def _safe_next(target: str | None) -> str | None:
    """Only a console path: the sign-in page must not redirect anywhere else."""
    if target and target.startswith("/console/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> Any:
    """The token form; on success a fresh session and the page asked for (or the role's home)."""
    if request.method == "GET":
        return render_template("sign_in.html", why=SIGN_IN_REASONS.get(request.args.get("why", "")))
    try:
        person = console_session.begin(request.form.get("token", ""))
    except Unauthorized:
        return render_template("sign_in.html", error="That token is unknown or revoked."), 401
    return redirect(_safe_next(request.args.get("next")) or url_for(LANDING[person.role]))


@bp.route("/sign-out", methods=["POST"])
def sign_out() -> Any:
    """End the session (a POST with the form's CSRF token: a link cannot sign anyone out)."""
    console_session.end()
    return redirect(url_for("console.sign_in", why="signed-out"))


@bp.route("/")
@require(*ANY_ROLE)
def home() -> Any:
    """The role's landing page."""
    return redirect(url_for(LANDING[console_session.current_person().role]))
