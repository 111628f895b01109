"""The validation authority: a thread per process that claims waiting challenges from the database.

A challenge POST may wait (bounded) for its challenge: it registers with `expecting` before it
starts the challenge, stamps the registration when it kicks the thread, and is signalled when this
thread records that challenge (handing it the recorded columns), or when a round that began after
the kick claims nothing (another worker or instance holds the challenge: the POST answers it as
it stands). When the thread is idle, the POST claims the challenge in the transaction that starts
it and hands it over with the kick: the thread's next round validates it without a claim of its own.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from service.acme.challenges import Claimed, claim_next, record_validation
from service.acme.http01 import fetch_http01
from service.acme.problems import ERROR_NS
from service.acme.tls_alpn import check_tls_alpn01
from service.db.session import Database

log = logging.getLogger("certgate.acme")
IDLE_POLL_SECONDS = 1.0  # another worker's or instance's challenges are found within this


@dataclass(eq=False)
class Expected:
    """A challenge POST waiting for its challenge's validation in this process."""

    challenge_id: str
    finished: threading.Event = field(default_factory=threading.Event)
    kicked_before_round: int | None = None  # rounds numbered above this one began after the kick
    recorded: dict[str, Any] | None = None  # the challenge's columns as this process' validator recorded them


class Validator:
    """Validates challenges off the request path; a challenge POST only wakes it up (and may wait)."""

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
        self._round = 0
        self._expected: set[Expected] = set()
        self._handed: deque[Claimed] = deque()  # claimed by a POST of this process, for the next rounds
        self._validating = False

    @contextmanager
    def expecting(self, challenge_id: str) -> Iterator[Expected]:
        """Register a wait for `challenge_id` (before the challenge is started, so no signal is missed)."""
        expected = Expected(challenge_id)
        with self._lock:
            self._expected.add(expected)
        try:
            yield expected
        finally:
            with self._lock:
                self._expected.discard(expected)

    def idle(self) -> bool:
        """Whether this process' thread is neither validating nor holding handed challenges (a hint:
        a challenge handed to a busy thread would wait for it instead of going to another validator)."""
        with self._lock:
            return self._pid == os.getpid() and not self._validating and not self._handed

    def kick(self, expected: Expected | None = None, claimed: Claimed | None = None) -> None:
        """Make sure this process' thread runs (threads do not survive a fork), and wake it.

        `expected` (registered with `expecting`, its challenge committed) is stamped with the rounds
        begun so far: a later round that finds nothing to claim releases it. `claimed` (a challenge
        claimed in the transaction that started it) is validated by the next round.
        """
        with self._lock:
            if self._pid != os.getpid():
                self._pid = os.getpid()
                self._wake = threading.Event()
                self._handed.clear()  # a parent's: its claims lapse, and any validator takes them then
                self._thread = threading.Thread(target=self._loop, name="acme-validator", daemon=True)
                self._thread.start()
            if claimed is not None:
                self._handed.append(claimed)
            if expected is not None:
                expected.kicked_before_round = self._round
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """End this process' thread (an app that is dropped, as in tests; a server's end with it)."""
        self._stopped = True
        self._wake.set()
        if self._thread is not None and self._pid == os.getpid():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stopped:
            self._wake.clear()  # before the round: a kick during the round is not lost
            try:
                busy = self.run_once()
            except Exception:  # noqa: BLE001 - the thread must outlive a database outage
                log.exception("ACME validation round failed")
                busy = False
            if not busy:
                self._wake.wait(IDLE_POLL_SECONDS)

    def run_once(self) -> bool:
        """Validate one challenge, a handed one first, else one claimed from the pool; whether the
        next round should follow at once (False when the pool had none, or a handed one was the last:
        a kick during the round still wakes the thread at once, and the pool is looked at again then)."""
        with self._lock:
            self._round += 1
            this_round = self._round
            claimed = self._handed.popleft() if self._handed else None
            from_pool = claimed is None
            self._validating = True
        recorded = None
        try:
            if claimed is None:
                claimed = claim_next(self.db, self.clock())
            if claimed is None:  # what was kicked before this round is claimed elsewhere, or done
                self._release(lambda e: e.kicked_before_round is not None and e.kicked_before_round < this_round)
                return False
            try:
                problem, hops = self.validate(claimed)
                recorded = record_validation(self.db, claimed, problem, hops, self.clock())
            finally:
                done = claimed.challenge_id
                self._release(lambda e: e.challenge_id == done, recorded)
            with self._lock:
                return from_pool or bool(self._handed)
        finally:
            with self._lock:
                self._validating = False

    def _release(self, which: Callable[[Expected], bool], recorded: dict[str, Any] | None = None) -> None:
        """Signal the waits `which` selects; one already released keeps what it was given (a later
        empty round must not overwrite the recorded columns a POST is about to answer with)."""
        with self._lock:
            for expected in self._expected:
                if which(expected) and not expected.finished.is_set():
                    expected.recorded = recorded
                    expected.finished.set()

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
