"""`certgate serve --server auto` picks granian unless the options ask for what only gunicorn keeps."""

from __future__ import annotations

import pytest

from service.cli.setup import pick_server


@pytest.mark.parametrize(("kind", "tls", "backlog", "expected"), [
    ("auto", False, 2048, "granian"),
    ("auto", True, 2048, "gunicorn"),  # the server's TLS suite order: OpenSSL keeps it, rustls does not
    ("auto", False, 127, "gunicorn"),  # granian raises a backlog below 128
    ("auto", False, 128, "granian"),
    ("granian", True, 4, "granian"),  # an explicit choice is kept
    ("gunicorn", False, 2048, "gunicorn"),
])
def test_auto_follows_what_each_server_can_keep(kind: str, tls: bool, backlog: int, expected: str) -> None:
    assert pick_server(kind, tls=tls, backlog=backlog) == expected
