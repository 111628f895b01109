"""bench/peer_cfssl_table.py: ratios pair runs of the same round and concurrency, and the table shows only
the servers that ran."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.append(str(BENCH))  # after the project: bench module names must not shadow others

from peer_cfssl_table import CONCURRENCY, Point, pair_ratios_of, render  # noqa: E402

RPS = {"cfssl": 1000.0, "certgate": 100.0, "bare": 400.0, "bare+rows": 250.0}


def _points(servers: tuple[str, ...], rounds: int = 2) -> list[Point]:
    return [Point(label, s, rnd, c, int(RPS[s] * rnd), 1.0, RPS[s] * rnd, 1.0, 2.0, 0, 1000 / RPS[s], 0.0, 0.1,
                  (1.0, 1.0, 1.0))
            for label in ("P-256", "RSA-3072") for s in servers for rnd in range(1, rounds + 1) for c in CONCURRENCY]


def _meta(servers: tuple[str, ...]) -> dict[str, object]:
    return {"cfssl_version": "cfssl 1.2.0", "cpus": 2, "seconds_per_point": 3.0, "rounds": 2, "git": "x",
            "loadavg": {"before": (1.0, 1.0, 1.0)}, "servers": list(servers)}


def test_pair_ratios_divide_within_a_round() -> None:
    pairs = pair_ratios_of(_points(("cfssl", "certgate", "bare", "bare+rows")))["P-256"]
    assert pairs["bare/cfssl"]["rps_c16"] == [0.4, 0.4]
    assert pairs["bare+rows/cfssl"]["rps_c1"] == [0.25, 0.25]
    assert pairs["certgate/bare"]["rps_c4"] == [0.25, 0.25]
    assert pairs["certgate/cfssl"]["cpu_ms_c16"] == [10.0, 10.0]


def test_render_shows_the_servers_that_ran() -> None:
    servers = ("cfssl", "bare")
    points = _points(servers)
    table = render(points, _meta(servers), pair_ratios_of(points))
    assert "P-256 bare/cfssl" in table and "RSA-3072: bare/cfssl req/s at c=16" in table
    assert "certgate/cfssl" not in table and "bare+rows " not in table
    full = ("cfssl", "certgate", "bare", "bare+rows")
    points = _points(full)
    table = render(points, _meta(full), pair_ratios_of(points))
    for row in ("RSA-3072 bare+rows/cfssl", "RSA-3072 certgate/bare", "P-256: certgate/cfssl req/s at c=16"):
        assert row in table
