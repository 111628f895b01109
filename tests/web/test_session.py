"""Console sessions: sign-in, cookie flags, idle timeout, absolute lifetime, revoked tokens, sign-out."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from service.process.runtime import Runtime
from service.tokens import revoke_token
from tests.clock import FakeClock
from tests.web.console import csrf_of, post_form, sign_in, text


def _signed_in(client: FlaskClient) -> bool:
    return client.get("/console/policy").status_code == 200


def test_sign_in_keeps_only_a_session(client: FlaskClient, tokens: dict[str, str]) -> None:
    response = sign_in(client, tokens["requester"])
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain HTTP here; `serve --tls` sets it
    assert tokens["requester"] not in cookie and tokens["requester"][3:] not in cookie
    assert response.headers["Location"].endswith("/console/submit")
    page = text(client.get("/console/submit"))
    assert tokens["requester"] not in page and "alice (requester)" in page


def test_wrong_token_is_refused_and_opens_nothing(client: FlaskClient, tokens: dict[str, str]) -> None:
    response = client.post("/console/sign-in", data={"token": "cg_nope", "csrf_token": csrf_of(client)})
    assert response.status_code == 401 and "unknown or revoked" in text(response)
    assert "cg_nope" not in text(response)
    assert not _signed_in(client)


def test_sign_in_goes_back_to_the_page_asked_for_but_never_elsewhere(client: FlaskClient, tokens: dict[str, str]) -> None:
    response = client.post("/console/sign-in?next=/console/queue", data={"token": tokens["approver"], "csrf_token": csrf_of(client)})
    assert response.headers["Location"] == "/console/queue"
    client.post("/console/sign-out", data={"csrf_token": csrf_of(client, "/console/policy")})
    for target in ("https://evil.example/", "//evil.example/console/", "/api/v1/ranges"):
        response = client.post(f"/console/sign-in?next={target}", data={"token": tokens["approver"], "csrf_token": csrf_of(client)})
        assert response.headers["Location"] == "/console/queue", target


def test_idle_timeout(client: FlaskClient, tokens: dict[str, str], clock: FakeClock) -> None:
    sign_in(client, tokens["auditor"])
    clock.advance(minutes=29)
    assert _signed_in(client)  # activity moves the idle deadline
    clock.advance(minutes=29)
    assert _signed_in(client)
    clock.advance(minutes=31)
    response = client.get("/console/audit")
    assert response.status_code == 302 and "/console/sign-in" in response.headers["Location"]
    assert not _signed_in(client)


def test_absolute_lifetime(client: FlaskClient, tokens: dict[str, str], clock: FakeClock) -> None:
    sign_in(client, tokens["auditor"])
    for _ in range(12 * 3):  # active every 20 minutes for 12 hours
        clock.advance(minutes=20)
        assert _signed_in(client)
    clock.advance(minutes=20)
    assert not _signed_in(client)


def test_a_revoked_token_ends_its_session_at_once(client: FlaskClient, tokens: dict[str, str], runtime: Runtime,
                                                  clock: FakeClock) -> None:
    sign_in(client, tokens["approver"])
    assert _signed_in(client)
    with runtime.db.write() as session:
        revoke_token(session, name="carol", actor="test", now=clock())
    assert not _signed_in(client)
    response = client.post("/console/sign-in", data={"token": tokens["approver"], "csrf_token": csrf_of(client)})
    assert response.status_code == 401


def test_the_sign_in_page_shows_only_its_own_words(client: FlaskClient) -> None:
    page = text(client.get("/console/sign-in?why=Send+your+token+to+evil@example.com"))
    assert "evil@example.com" not in page
    assert "Your session has ended" in text(client.get("/console/sign-in?why=ended"))


def test_sign_out(client: FlaskClient, tokens: dict[str, str]) -> None:
    sign_in(client, tokens["admin"])
    assert post_form(client, "/console/sign-out", {}).status_code == 302
    assert not _signed_in(client)


def test_a_forged_cookie_is_no_session(app: Flask, client: FlaskClient, tokens: dict[str, str]) -> None:
    client.set_cookie("certgate_console", '{"tid": 1, "since": 1e12, "seen": 1e12}', path="/console")
    assert not _signed_in(client)


def test_tls_cookie_is_secure(app: Flask, tokens: dict[str, str]) -> None:
    app.config["SESSION_COOKIE_SECURE"] = True  # what `serve --tls` sets
    client = app.test_client()
    token = csrf_of(client)
    response = client.post("/console/sign-in", data={"token": tokens["auditor"], "csrf_token": token})
    assert response.status_code == 302 and "Secure" in response.headers["Set-Cookie"]
