"""`certgate submit` retries a lost answer and a 503 with one Idempotency-Key: one certificate."""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import LiveServer
from tests.e2e.pki_clients import KeyShop

pytestmark = pytest.mark.e2e


class LossyProxy(ThreadingHTTPServer):
    """In front of the real server: the 1st POST is forwarded but its answer is lost (the connection
    is cut), the 2nd is answered 503 without being forwarded, the rest are forwarded."""

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream = upstream
        self.keys: list[str | None] = []
        self.lost_answers: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: LossyProxy

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.keys.append(self.headers.get("Idempotency-Key"))
        attempt = len(self.server.keys)
        if attempt == 2:
            self._answer(503, b'{"error": {"code": "unavailable", "message": "later"}}', {"Retry-After": "0"})
            return
        status, answer = self._forward(body)
        if attempt == 1:
            self.server.lost_answers.append(json.loads(answer))
            self.close_connection = True  # the client never hears that it was issued
            return
        self._answer(status, answer, {})

    def _forward(self, body: bytes) -> tuple[int, bytes]:
        headers = {k: v for k, v in self.headers.items() if k in ("Content-Type", "Authorization", "Idempotency-Key")}
        req = urllib.request.Request(self.server.upstream + self.path, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def proxy(live_server: LiveServer) -> Iterator[LossyProxy]:
    server = LossyProxy(live_server.url)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_lost_answer_and_a_503_are_retried_into_the_first_certificate(
    live_server: LiveServer, key_shop: KeyShop, proxy: LossyProxy
) -> None:
    csr = key_shop.csr("p256", subj="/CN=retry.example.com")
    done = live_server.cli("submit", str(csr), "--url", proxy.url, "--token", live_server.tokens["requester"], check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(proxy.keys) == 3 and proxy.keys[0] and len(set(proxy.keys)) == 1  # one key, three attempts
    first = proxy.lost_answers[0]
    assert first["status"] == "issued"
    serial = first["certificate"]["serial_number"]
    assert re.search(rf"^issued {serial} \(request {first['id']}\)", done.stdout, re.MULTILINE), done.stdout
    assert "retrying" in done.stderr
    status, found = live_server.call("GET", "/api/v1/certificates?dns=retry.example.com&per_page=500",
                                     token=live_server.tokens["auditor"])
    assert status == 200 and [c["serial_number"] for c in found["items"]] == [serial], found  # type: ignore[index]


def test_without_retries_a_lost_answer_is_reported(live_server: LiveServer, key_shop: KeyShop, proxy: LossyProxy) -> None:
    csr = key_shop.csr("p256", subj="/CN=noretry.example.com")
    done = live_server.cli("submit", str(csr), "--url", proxy.url, "--token", live_server.tokens["requester"],
                           "--retries", "0", "--idempotency-key", "mine-1", check=False)
    assert done.returncode == 1 and "cannot reach" in done.stderr, done.stdout + done.stderr
    assert proxy.keys == ["mine-1"]
