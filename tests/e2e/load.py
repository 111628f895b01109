"""Load for fault tests: threads submitting CSRs, every answer (or failure) recorded as an outcome."""

from __future__ import annotations

import http.client
import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from tests.factories import csr_pem

CLIENT_TIMEOUT = 30.0


@dataclass(frozen=True)
class Outcome:
    """What one client saw: an HTTP status (0 when none) or the name of the connection error."""

    status: int
    error: str = ""
    body: bytes = b""
    retry_after: str | None = None
    seconds: float = 0.0

    @property
    def kind(self) -> str:
        """`201`, `503`, ... or the exception class name (`ConnectionResetError`, `TimeoutError`)."""
        return str(self.status) if self.status else self.error

    def json(self) -> object:
        """The decoded body."""
        return json.loads(self.body)


def call(url: str, method: str, path: str, *, token: str | None = None, body: bytes | None = None,
         content_type: str = "application/json", timeout: float = CLIENT_TIMEOUT) -> Outcome:
    """One request on a fresh connection; connection failures become outcomes, never exceptions."""
    parts = urlsplit(url)
    assert parts.hostname and parts.port
    headers = {"Content-Type": content_type, "Connection": "close"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    started = time.monotonic()
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        return Outcome(resp.status, body=data, retry_after=resp.getheader("Retry-After"), seconds=time.monotonic() - started)
    except (OSError, http.client.HTTPException) as exc:
        return Outcome(0, error=type(exc).__name__, seconds=time.monotonic() - started)
    finally:
        conn.close()


_names = itertools.count()
_names_lock = threading.Lock()


def submission() -> bytes:
    """A JSON submission body for a fresh DNS name (all CSRs share one cached key: fast)."""
    with _names_lock:
        n = next(_names)
    return json.dumps({"csr": csr_pem(cn=None, dns=[f"host-{n}.example.com"]).decode()}).encode()


@dataclass
class Burst:
    """`threads` clients submitting until `total` submissions were made or `stop()` is called."""

    url: str
    token: str
    threads: int
    total: int | None = None
    timeout: float = CLIENT_TIMEOUT
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)
    _sent: int = 0

    def start(self) -> Burst:
        """Start the client threads."""
        self._workers = [threading.Thread(target=self._run, daemon=True) for _ in range(self.threads)]
        for t in self._workers:
            t.start()
        return self

    def _take(self) -> bool:
        with self._lock:
            if self._stop.is_set() or (self.total is not None and self._sent >= self.total):
                return False
            self._sent += 1
            return True

    def _run(self) -> None:
        while self._take():
            outcome = call(self.url, "POST", "/api/v1/requests", token=self.token, body=submission(), timeout=self.timeout)
            with self._lock:
                self.outcomes.append(outcome)

    def done(self) -> int:
        """How many submissions have an outcome so far."""
        with self._lock:
            return len(self.outcomes)

    def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Poll `predicate` until true or `timeout` seconds passed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return predicate()

    def stop(self, timeout: float | None = None) -> list[Outcome]:
        """Stop sending, wait for the in-flight calls, return every outcome."""
        self._stop.set()
        for t in self._workers:
            t.join(self.timeout + 5 if timeout is None else timeout)
        assert not any(t.is_alive() for t in self._workers), "a client thread hung past its timeout"
        return list(self.outcomes)

    def join(self, timeout: float) -> list[Outcome]:
        """Wait for a bounded burst (`total`) to finish."""
        for t in self._workers:
            t.join(timeout)
        return self.stop()

    def slowest(self) -> dict[str, float]:
        """The longest wait per outcome kind, in seconds (for the report, not for assertions)."""
        worst: dict[str, float] = {}
        with self._lock:
            for o in self.outcomes:
                worst[o.kind] = max(worst.get(o.kind, 0.0), round(o.seconds, 1))
        return worst

    def tally(self) -> Counter[str]:
        """Outcome kinds and how often each was seen."""
        with self._lock:
            return Counter(o.kind for o in self.outcomes)
