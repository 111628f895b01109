"""The http-01 fetch: its redirect limit, body limit, refusals and the hops it records."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from service.acme.http01 import MAX_BODY, MAX_REDIRECTS, fetch_http01


@pytest.fixture
def site() -> Iterator[int]:
    """A server: /loop redirects to itself, /big answers too much, /https redirects to https, /ok answers."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            token = self.path.rsplit("/", 1)[-1]
            if token == "loop":
                self.send_response(302)
                self.send_header("Location", self.path)
                self.end_headers()
            elif token == "https":
                self.send_response(301)
                self.send_header("Location", "https://example.com/")
                self.end_headers()
            elif token == "big":
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"x" * (MAX_BODY + 100))
            elif token == "hop":
                self.send_response(307)
                self.send_header("Location", "/.well-known/acme-challenge/ok")
                self.end_headers()
            else:
                self.send_response(200 if token == "ok" else 404)
                self.end_headers()
                self.wfile.write(f"{token}.{self.headers['Host']}".encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


HOSTS = {"www.example.com": "127.0.0.1"}


def test_a_redirect_is_followed_and_every_hop_recorded(site: int) -> None:
    fetched = fetch_http01("www.example.com", "hop", port=site, hosts=HOSTS)
    assert fetched.problem is None and fetched.body == b"ok.www.example.com"
    assert [(h["url"], h["address"], h["status"]) for h in fetched.hops] == [
        ("http://www.example.com/.well-known/acme-challenge/hop", "127.0.0.1", 307),
        ("http://www.example.com/.well-known/acme-challenge/ok", "127.0.0.1", 200)]


def test_a_redirect_loop_stops_at_the_limit(site: int) -> None:
    fetched = fetch_http01("www.example.com", "loop", port=site, hosts=HOSTS)
    assert fetched.problem is not None and fetched.problem[0] == "connection"
    assert len(fetched.hops) == MAX_REDIRECTS + 1


def test_a_body_over_the_limit_is_refused(site: int) -> None:
    fetched = fetch_http01("www.example.com", "big", port=site, hosts=HOSTS)
    assert fetched.body is None and fetched.problem is not None and "bytes" in fetched.problem[1]


def test_https_redirects_and_errors_are_problems(site: int) -> None:
    assert fetch_http01("www.example.com", "https", port=site, hosts=HOSTS).problem is not None
    missing = fetch_http01("www.example.com", "nothing", port=site, hosts=HOSTS)
    assert missing.problem == ("unauthorized", "http://www.example.com/.well-known/acme-challenge/nothing answered HTTP 404")


def test_a_closed_port_is_a_connection_problem_within_the_timeout(site: int) -> None:
    fetched = fetch_http01("127.0.0.1", "ok", port=1, hosts={}, timeout=2)
    assert fetched.problem is not None and fetched.problem[0] == "connection"
    assert fetched.hops[0]["address"] == "127.0.0.1" and "error" in fetched.hops[0]
