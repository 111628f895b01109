"""Read-your-writes across two gunicorn workers: ranges added and removed while submissions run.

A writer adds and removes one owned range over and over; submitters send CSRs naming an address
inside it all the while. Every submission that started after an add was answered and ended
before the matching remove was sent must be issued; every one that started after a remove was
answered and ended before the next add was sent must be `ip_not_owned`. Overlapping ones may go
either way and are not judged. The workers only learn of a change from the database.
"""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import LiveServer, start_server, stop_server
from tests.factories import csr_pem

pytestmark = pytest.mark.e2e

CIDR, ADDRESS = "44.5.6.0/24", "44.5.6.7"
ROUNDS = 25
SUBMITTERS = 3


@dataclass(frozen=True)
class Attempt:
    started: float
    ended: float
    status: int
    codes: tuple[str, ...]


@pytest.fixture
def two_workers(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    server = start_server(tmp_path, database_url=database_url, workers=2, token_keys=("requester", "admin"))
    yield server
    stop_server(server)


def _call(server: LiveServer, method: str, path: str, token: str, body: object | None = None) -> tuple[int, dict[str, object]]:
    req = urllib.request.Request(server.url + path, data=None if body is None else json.dumps(body).encode(), method=method,
                                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_every_request_after_a_change_sees_it_on_every_worker(two_workers: LiveServer) -> None:
    server, rng = two_workers, random.Random(12)
    present: list[tuple[float, float]] = []  # (add answered, remove sent)
    absent: list[tuple[float, float]] = []  # (remove answered, next add sent)
    attempts: list[Attempt] = []
    done = threading.Event()
    csr = csr_pem(cn=None, ips=[ADDRESS]).decode()

    def submitter() -> None:
        while not done.is_set():
            started = time.monotonic()
            status, body = _call(server, "POST", "/api/v1/requests", server.tokens["requester"], {"csr": csr})
            codes = tuple(str(v["code"]) for v in body.get("violations", []))  # type: ignore[union-attr]
            attempts.append(Attempt(started, time.monotonic(), status, codes))

    threads = [threading.Thread(target=submitter) for _ in range(SUBMITTERS)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(ROUNDS):
            add_sent = time.monotonic()
            if absent:
                absent[-1] = (absent[-1][0], add_sent)  # the add may commit any time after it is sent
            status, added = _call(server, "POST", "/api/v1/ranges", server.tokens["admin"], {"cidr": CIDR})
            assert status == 201, added
            added_at = time.monotonic()
            time.sleep(rng.uniform(0.15, 0.4))
            remove_sent = time.monotonic()
            present.append((added_at, remove_sent))
            status, _ = _call(server, "DELETE", f"/api/v1/ranges/{added['id']}", server.tokens["admin"])
            assert status in (200, 204)
            absent.append((time.monotonic(), float("inf")))
            time.sleep(rng.uniform(0.15, 0.4))
    finally:
        done.set()
        for thread in threads:
            thread.join(timeout=120)
    absent[-1] = (absent[-1][0], time.monotonic())

    wrong, judged = [], {"issued": 0, "not_owned": 0}
    for a in attempts:
        if any(start < a.started and a.ended < end for start, end in present):
            judged["issued"] += 1
            if a.status != 201:
                wrong.append(f"range present, got {a.status} {a.codes}")
        elif any(start < a.started and a.ended < end for start, end in absent):
            judged["not_owned"] += 1
            if a.status != 202 or a.codes != ("ip_not_owned",):
                wrong.append(f"range absent, got {a.status} {a.codes}")
    assert not wrong, f"{len(wrong)} wrong verdicts of {sum(judged.values())} judged: {wrong[:10]}"
    assert judged["issued"] >= 10 and judged["not_owned"] >= 10, judged
