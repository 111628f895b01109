"""Helpers for console tests through Flask's test client: sign in, read a form's CSRF token, post a form."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(client: FlaskClient, path: str = "/console/sign-in") -> str:
    """The CSRF token a console page's forms carry (for this client's session)."""
    page = client.get(path)
    found = _CSRF.search(page.get_data(as_text=True))
    assert found, f"no CSRF token on {path} ({page.status_code})"
    return found.group(1)


def sign_in(client: FlaskClient, token: str) -> TestResponse:
    """Sign in with an API token through the form; the client keeps the session cookie."""
    response = client.post("/console/sign-in", data={"token": token, "csrf_token": csrf_of(client)})
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


def post_form(client: FlaskClient, path: str, data: dict[str, Any], *, csrf: bool = True, page: str = "/console/policy",
              **kwargs: Any) -> TestResponse:
    """POST a console form, with the CSRF token of a page this client has open (or without, to test refusal)."""
    body = dict(data)
    if csrf:
        body["csrf_token"] = csrf_of(client, page)
    return client.post(path, data=body, **kwargs)


def text(response: TestResponse) -> str:
    """The page as text."""
    return response.get_data(as_text=True)
