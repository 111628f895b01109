"""The validation authority: a thread per process that claims waiting challenges from the database."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from service.acme.challenges import Claimed, claim_next, record_validation
from service.acme.http01 import fetch_http01
from service.acme.problems import ERROR_NS
from service.acme.tls_alpn import check_tls_alpn01
from service.db.session import Database

log = logging.getLogger("certgate.acme")
IDLE_POLL_SECONDS = 1.0  # another worker's or instance's challenges are found within this


class Validator:
    """Validates challenges off the request path; a challenge POST only wakes it up."""

    def __init__(self, db: Database, *, port: int, hosts: Mapping[str, str], clock: Callable[[], datetime],
                 tls_port: int = 443) -> None:
        self.db = db
        self.port = port
        self.tls_port = tls_port
        self.hosts = dict(hosts)
        self.clock = clock
        self._wake = threading.Event()
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def kick(self) -> None:
        """Make sure this process' thread runs (threads do not survive a fork), and wake it."""
        with self._lock:
            if self._pid != os.getpid():
                self._pid = os.getpid()
                self._wake = threading.Event()
                self._thread = threading.Thread(target=self._loop, name="acme-validator", daemon=True)
                self._thread.start()
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """End this process' thread (an app that is dropped, as in tests; a server's end with it)."""
        self._stopped = True
        self._wake.set()
        if self._thread is not None and self._pid == os.getpid():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stopped:
            try:
                busy = self.run_once()
            except Exception:  # noqa: BLE001 - the thread must outlive a database outage
                log.exception("ACME validation round failed")
                busy = False
            if not busy:
                self._wake.wait(IDLE_POLL_SECONDS)
                self._wake.clear()

    def run_once(self) -> bool:
        """Claim and validate one challenge; False when none waits."""
        claimed = claim_next(self.db, self.clock())
        if claimed is None:
            return False
        problem, hops = self.validate(claimed)
        record_validation(self.db, claimed, problem, hops, self.clock())
        return True

    def validate(self, claimed: Claimed) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """http-01: fetch the key authorization and compare (RFC 8555 §8.3: trailing whitespace is
        ignored); tls-alpn-01: the proof certificate (RFC 8737)."""
        expected = f"{claimed.token}.{claimed.thumbprint}".encode()
        if claimed.type == "tls-alpn-01":
            fetched = check_tls_alpn01(claimed.kind, claimed.value, expected.decode(), port=self.tls_port, hosts=self.hosts)
        else:
            fetched = fetch_http01(claimed.value, claimed.token, port=self.port, hosts=self.hosts)
        wrong = fetched.body is not None and fetched.body.rstrip() != expected
        if claimed.type == "http-01" and fetched.problem is None and wrong:
            fetched.problem = ("incorrectResponse", "the key authorization fetched is not the expected one")
        if fetched.problem is None:
            return None, list(fetched.hops)
        kind, detail = fetched.problem
        return {"type": ERROR_NS + kind, "detail": detail, "status": 400}, list(fetched.hops)
