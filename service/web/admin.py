"""Admin pages: the owned-range registry (search, add, remove, import), tokens, the policy in force.

The owned-domain registry gets its page here too, beside the ranges, when it lands (`/console/domains`).
"""

from __future__ import annotations

import io
from typing import Any

from flask import render_template, request

from policies.addresses import ip_subject_for_owner, parse_ip
from service.domain import Role
from service.errors import BadRequest, CertgateError
from service.tokens import create_token, list_tokens, revoke_token
from service.usecases.explain import explain_address
from service.usecases.ranges import add_range, import_ranges, list_ranges, parse_import, remove_range
from service.web.blueprint import bp
from service.web.present import paging
from service.web.session import ANY_ROLE, current_person, require, runtime

IMPORT_LIMIT = 64 * 1024 * 1024


def _ranges_page(status: int = 200, **context: Any) -> Any:
    rt, page = runtime(), paging()
    search, found = request.args.get("ip", "").strip(), None
    with rt.db.read() as session:
        rows, total = list_ranges(session, page=page.page, per_page=page.per_page)
        ip = parse_ip(search) if search else None
        if ip is not None:
            found = (explain_address(session, ip.text, "", rt.judge.policy.address_rule), rt.ranges.lookup(ip_subject_for_owner(ip)))
    bad_search = bool(search) and ip is None
    return render_template("ranges.html", rows=rows, paging=page.with_total(total), search=search, found=found,
                           bad_search=bad_search, **context), status


@bp.route("/ranges")
@require(Role.ADMIN)
def ranges() -> Any:
    """The registry, a search by address (which range owns it, or the nearest ones), and the forms."""
    return _ranges_page()


@bp.route("/ranges/change", methods=["POST"])
@require(Role.ADMIN)
def ranges_change() -> Any:
    """Add one range, or remove one with a reason."""
    rt, actor = runtime(), current_person().name
    form = request.form
    try:
        with rt.db.write() as session:
            if form.get("op") == "remove":
                if not form.get("reason", "").strip():
                    raise BadRequest("say why the range is removed")
                row = remove_range(session, cidr=form.get("cidr", ""), actor=actor, now=rt.clock(), reason=form["reason"].strip())
            else:
                row = add_range(session, cidr=form.get("cidr", ""), owner=form.get("owner", "").strip(), actor=actor, now=rt.clock())
    except CertgateError as exc:
        return _ranges_page(exc.status, error=exc.message, op=form.get("op"))
    rt.ranges.refresh()
    verb = "removed" if form.get("op") == "remove" else "added"
    return _ranges_page(message=f"{row.cidr} {verb}.")


@bp.route("/ranges/import", methods=["POST"])
@require(Role.ADMIN)
def ranges_import() -> Any:
    """Import a file of `CIDR[,owner]` lines: all or nothing; every rejected line named with its number."""
    rt = runtime()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _ranges_page(400, error="choose a file to import")
    parsed = parse_import(io.TextIOWrapper(upload.stream, encoding="utf-8", errors="replace"))
    if parsed.rejected:
        return _ranges_page(400, error=f"{len(parsed.rejected)} lines rejected; nothing imported", rejected=parsed.rejected[:200])
    with rt.db.write() as session:
        result = import_ranges(session, parsed, actor=current_person().name, now=rt.clock())
    rt.ranges.refresh()
    return _ranges_page(message=f"Imported: {result.added} added, {result.unchanged} already there.")


@bp.route("/tokens", methods=["GET", "POST"])
@require(Role.ADMIN)
def tokens() -> Any:
    """Tokens by name and role (never their secrets); create one (its secret shown once, on this answer); revoke."""
    rt, status = runtime(), 200
    context: dict[str, Any] = {}
    if request.method == "POST":
        name = request.form.get("name", "").strip()
        try:
            with rt.db.write() as session:
                if request.form.get("op") == "revoke":
                    revoke_token(session, name=name, actor=current_person().name, now=rt.clock())
                    context = {"message": f"Token {name} revoked."}
                else:
                    role = Role(request.form.get("role", "")) if request.form.get("role") in tuple(Role) else None
                    if role is None:
                        raise BadRequest("choose a role")
                    context = {"created": (name, create_token(session, name=name, role=role, actor=current_person().name,
                                                              now=rt.clock()))}
        except CertgateError as exc:
            status, context = exc.status, {"error": exc.message}
    page = paging()
    with rt.db.read() as session:
        rows, total = list_tokens(session, page=page.page, per_page=page.per_page)
    return render_template("tokens.html", rows=rows, roles=tuple(Role), paging=page.with_total(total), **context), status


@bp.route("/policy")
@require(*ANY_ROLE)
def policy() -> Any:
    """The policy in force and its version (the digest every decision records)."""
    return render_template("policy.html", loaded=runtime().loaded_policy)


def _allow_big_import() -> None:
    """A range file may be far larger than an API body; only this form may send one."""
    if request.endpoint == "console.ranges_import":
        request.max_content_length = IMPORT_LIMIT


bp.before_request(_allow_big_import)
