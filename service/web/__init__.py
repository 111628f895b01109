"""The console: server-rendered pages under /console/ for every role, over the same use cases as the API."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Flask, Response, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect
from markupsafe import Markup, escape
from werkzeug.exceptions import HTTPException

from service.errors import CertgateError, NotFound
from service.process.runtime import Runtime
from service.web import admin, audit, inventory, queue, requester, signin  # noqa: F401  (they add their routes)
from service.web.blueprint import bp
from service.web.present import form_value, iana_block, relative, utc_text
from service.web.session import SignInRequired, current_person, runtime, session_secret

# No inline script or style anywhere: every asset is a file certgate serves itself.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
csrf = CSRFProtect()


def install_console(app: Flask, rt: Runtime) -> None:
    """Register the console on `app`: the session cookie, CSRF on every console form, the pages."""
    lifetime = timedelta(hours=rt.settings.console_lifetime_hours)
    app.secret_key = session_secret(rt.settings.data_dir)
    app.config.update(
        SESSION_COOKIE_NAME="certgate_console", SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_PATH="/console", PERMANENT_SESSION_LIFETIME=lifetime,
        # The API authenticates by bearer token and needs no CSRF token; the console checks its own forms.
        WTF_CSRF_CHECK_DEFAULT=False, WTF_CSRF_TIME_LIMIT=int(lifetime.total_seconds()),
        WTF_CSRF_SSL_STRICT=True,
    )
    csrf.init_app(app)
    app.register_blueprint(bp)


@bp.route("/<path:_anything>", methods=["GET", "POST"])
def _no_such_page(_anything: str) -> Any:
    """Unknown console paths answer the console's own 404 page (not the API's JSON)."""
    raise NotFound("there is no such console page")


@bp.before_request
def _check_form_token() -> None:
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        csrf.protect()


@bp.after_request
def _security_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"  # CSRF checks the Referer under TLS
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@bp.app_template_global()
def utc(moment: datetime | None) -> Markup:
    """A time for a page: the exact UTC text in a <time> element, and the relative hint ('in 3 days').

    A function, not a macro: a page of fifty rows calls it a hundred times.
    """
    if moment is None:
        return Markup("—")
    return Markup(f'<time datetime="{escape(moment.isoformat())}">{escape(utc_text(moment))}</time> '
                  f'<span class="hint">({escape(relative(moment, runtime().clock()))})</span>')


bp.add_app_template_global(form_value, "kept")
bp.add_app_template_global(iana_block, "iana_block")


@bp.context_processor
def _page_globals() -> dict[str, Any]:
    try:
        person = current_person()
    except SignInRequired:
        person = None
    return {"person": person}


@bp.errorhandler(SignInRequired)
def _sign_in_first(exc: SignInRequired) -> Any:
    target = request.full_path if request.method == "GET" else url_for("console.home")
    return redirect(url_for("console.sign_in", next=target, why=exc.reason))


@bp.errorhandler(CertgateError)
def _refused(exc: CertgateError) -> tuple[str, int]:
    return render_template("error.html", status=exc.status, title=_TITLES.get(exc.status, "Refused"),
                           message=exc.message), exc.status


@bp.errorhandler(CSRFError)
def _no_form_token(exc: CSRFError) -> tuple[str, int]:
    return render_template("error.html", status=400, title="Form refused",
                           message="This form was not sent from a current console page (its CSRF token is missing or "
                                   "expired). Nothing was changed; go back, reload the page and try again."), 400


@bp.errorhandler(HTTPException)
def _http(exc: HTTPException) -> tuple[str, int]:
    status = exc.code or 500
    return render_template("error.html", status=status, title=exc.name, message=exc.description or exc.name), status


_TITLES = {400: "Not accepted", 403: "Not allowed", 404: "Not found", 409: "Already done", 413: "Too large",
           422: "Refused by policy", 503: "Unavailable"}
