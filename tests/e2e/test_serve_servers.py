"""`certgate serve` under either server: a graceful stop, metrics summed across workers, request ids in the access log."""

from __future__ import annotations

import json
import re
import signal
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.conftest import start_server, stop_server
from tests.e2e.invariants import check_ledger
from tests.e2e.load import Burst, call
from tests.e2e.test_faults import CONNECTION_ERRORS, assert_consistent, sqlite_url, workers_of

pytestmark = pytest.mark.e2e
KINDS = ["gunicorn", "granian"]


@pytest.mark.parametrize("server_kind", KINDS)
def test_a_stop_under_load_finishes_what_it_started(tmp_path: Path, server_kind: str) -> None:
    """SIGTERM in the middle of a burst: the server exits 0 within the graceful timeout, every
    answer a client got is a 201 or a refused/closed connection (never a 5xx), and every 201's
    certificate and audit events are in the database, nothing half-written."""
    server = start_server(tmp_path, workers=2, token_keys=["requester"], serve_args=("--server", server_kind))
    burst = Burst(server.url, server.tokens["requester"], threads=6, total=300, timeout=20).start()
    try:
        assert burst.wait_until(lambda: burst.done() >= 30, timeout=60)
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=20) == 0
        burst.stop()
        burst.join(timeout=60)
        tally = burst.tally()
        assert set(tally) <= {"201"} | CONNECTION_ERRORS, tally
        assert tally["201"] >= 30
        assert check_ledger(sqlite_url(server)).certificates >= tally["201"]
        assert_consistent(server)
    finally:
        stop_server(server)


@pytest.mark.parametrize("server_kind", KINDS)
def test_metrics_count_every_workers_requests_and_lines_carry_request_ids(tmp_path: Path, server_kind: str) -> None:
    server = start_server(tmp_path, workers=2, token_keys=[], serve_args=("--server", server_kind))
    try:
        assert len(workers_of(server)) == 2
        for n in range(40):  # a new connection each: both workers answer some
            request = urllib.request.Request(server.url + "/healthz", headers={"X-Request-ID": f"probe-{n}",
                                                                                "Connection": "close"})
            with urllib.request.urlopen(request, timeout=10) as answer:
                assert answer.status == 200 and answer.headers["X-Request-ID"] == f"probe-{n}"
        for _ in range(4):  # whichever worker answers the scrape, it reports both workers' counts
            scrape = call(server.url, "GET", "/metrics", timeout=10)
            assert scrape.status == 200
            text = scrape.body.decode()
            counted = sum(float(m) for m in re.findall(
                r'certgate_http_requests_total\{method="GET",route="/healthz",status="200"\} ([0-9.e+]+)', text))
            assert counted >= 40, text[:2000]
    finally:
        stop_server(server)
    lines = [json.loads(line) for line in (tmp_path / "server.log").read_text().splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "certgate.access"]
    assert {f"probe-{n}" for n in range(40)} <= {line["request_id"] for line in access}
