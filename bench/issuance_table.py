"""`bench/issuance.py`'s measurements and what it prints of them: the points, the ratios, the table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness import ROOT

CONCURRENCY = (1, 4, 16)

NAMES = {
    "a": "(a) crypto loop, 1 core, no HTTP",
    "b": "(b) bare Flask issuer",
    "e": "(e) bare + certgate's rows",
    "f": "(f) bare + rows, bg checkpoints",
    "c": "(c) certgate, lint off",
    "d": "(d) certgate, lint on (default)",
    "g": "(g) batches of 100, lint on",
}


@dataclass(frozen=True)
class Point:
    """One measurement: a target at one concurrency."""

    target: str
    concurrency: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-201 answers plus socket errors (connect, read, write, timeout)
    server_cpu_ms_per_request: float | None
    client_cpu_s: float | None = None
    # Worker time per request besides CPU: waiting for a CPU (run queue: the host is busy) and
    # neither running nor runnable (blocked: locks, I/O, sleeps), from /proc/<pid>/task/*/schedstat.
    server_runq_ms_per_request: float | None = None
    server_blocked_ms_per_request: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def _at(points: list[Point], target: str, c: int) -> Point | None:
    return next((p for p in points if p.target == target and p.concurrency == c), None)


def _div(x: float | None, y: float | None) -> float | None:
    return x / y if x is not None and y else None


def ratios_of(points: list[Point]) -> dict[str, float | None]:
    """The ratios the table ends with (None where a target was not run)."""

    def rps(t: str) -> float | None:
        p = _at(points, t, 16)
        return p.rps if p else None

    def cpu(t: str) -> float | None:
        p = _at(points, t, 16)
        return p.server_cpu_ms_per_request if p else None

    a = _at(points, "a", 1)
    return {
        "certgate_lint_off_over_bare_c16": _div(rps("c"), rps("b")),
        # Issue #17: certificates per second in batches of 100 (lint on) over (d)'s single requests at
        # c=16. Batches at c=4: one call of 100 keeps a worker busy for a second or more, so c=4 feeds
        # both workers with one call queued each, where c=16 queues 1,600 CSRs and, on a loaded host,
        # completes no call inside a point.
        "batch_lint_on_over_single_lint_on_c16": _div(_at(points, "g", 4).rps if _at(points, "g", 4) else None,
                                                      rps("d")),
        "batch_lint_on_over_single_lint_on_cpu": _div(cpu("d"), _at(points, "g", 4).server_cpu_ms_per_request
                                                      if _at(points, "g", 4) else None),
        "lint_on_over_off_c16": _div(rps("d"), rps("c")),
        "lint_on_over_off_cpu": _div(cpu("d"), cpu("c")),
        "bare_over_two_cores_crypto_c16": _div(rps("b"), 2 * a.rps if a else None),
        # The floor: the bare issuer plus the rows every issuance commits (e), and with
        # certgate's background checkpoints (f), against the bare issuer and certgate.
        "bare_rows_over_bare_c16": _div(rps("e"), rps("b")),
        "bare_rows_over_bare_cpu": _div(cpu("e"), cpu("b")),
        "certgate_lint_off_over_bare_rows_c16": _div(rps("c"), rps("e")),
        "certgate_lint_off_over_bare_rows_cpu": _div(cpu("c"), cpu("e")),
        "bare_rows_checkpoint_over_bare_c16": _div(rps("f"), rps("b")),
        "bare_rows_checkpoint_over_bare_cpu": _div(cpu("f"), cpu("b")),
        "certgate_lint_off_over_bare_rows_checkpoint_c16": _div(rps("c"), rps("f")),
        "certgate_lint_off_over_bare_rows_checkpoint_cpu": _div(cpu("c"), cpu("f")),
    }


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def render(points: list[Point], meta: dict[str, Any], ratios: dict[str, float | None]) -> str:
    """The table of every target and concurrency, then the ratios and a legend."""
    head = "".join(f" | {'c=' + str(c):^27}" for c in CONCURRENCY)
    sub = "".join(f" | {'req/s':>7} {'p50ms':>6} {'p99ms':>6} {'err':>4}" for _ in CONCURRENCY)
    rule = "-" * (34 + 30 * len(CONCURRENCY) + 24)
    lines = [
        f"certgate issuance — {meta['cpus']} CPUs shared by server and wrk, {meta['seconds_per_point']:g} s per point, "
        f"load avg {meta['loadavg_before']:.1f} -> {meta['loadavg_after']:.1f}; certgate {meta['git']}"
        + ("" if meta["certgate_source"] == str(ROOT) else f" from {meta['certgate_source']}"),
        f"{'':34}{head} | {'ms/request at c=16':^21}",
        f"{'target':34}{sub} | {'CPU':>6} {'runq':>6} {'block':>6}",
        rule,
    ]
    for target, name in NAMES.items():
        if not any(p.target == target for p in points):
            continue
        row = f"{name:34}"
        for c in CONCURRENCY:
            p = _at(points, target, c)
            if p is None:
                row += f" | {'':27}"
            else:
                row += f" | {p.rps:7.1f} {p.p50_ms:6.1f} {p.p99_ms:6.1f} {p.errors if target != 'a' else '-':>4}"
        cpu = _at(points, target, 16) or _at(points, target, 1)
        row += f" | {cpu.server_cpu_ms_per_request:6.2f}" if cpu and cpu.server_cpu_ms_per_request else " |"
        if cpu and cpu.server_runq_ms_per_request is not None and cpu.server_blocked_ms_per_request is not None:
            row += f" {cpu.server_runq_ms_per_request:6.2f} {cpu.server_blocked_ms_per_request:6.2f}"
        lines.append(row)
    lines.append(rule)
    r = ratios
    verdict = "" if r["certgate_lint_off_over_bare_c16"] is None else (
        "  (target >= 0.5: " + ("met" if r["certgate_lint_off_over_bare_c16"] >= 0.5 else "NOT met") + ")")
    lines += [
        f"certgate lint off / bare, req/s at c=16: {_fmt(r['certgate_lint_off_over_bare_c16'])}{verdict}",
        f"certgate lint on / lint off, req/s at c=16: {_fmt(r['lint_on_over_off_c16'])}; "
        f"CPU ms/req: {_fmt(r['lint_on_over_off_cpu'])}",
        f"bare / (2 x crypto loop), req/s at c=16: {_fmt(r['bare_over_two_cores_crypto_c16'])}  "
        f"(HTTP + Flask + gunicorn overhead; 2 workers can at best double (a))",
    ]
    if r["batch_lint_on_over_single_lint_on_c16"] is not None:
        met = "met" if r["batch_lint_on_over_single_lint_on_c16"] >= 2 else "NOT met"
        lines.append(f"(g) at c=4 / (d) at c=16, lint on, certificates/s: {_fmt(r['batch_lint_on_over_single_lint_on_c16'])}"
                     f"; (d) CPU ms per request / (g) CPU ms per certificate: "
                     f"{_fmt(r['batch_lint_on_over_single_lint_on_cpu'])}  (issue #17 target >= 2 against (d) at "
                     f"51cb6d1: {met} if (d) ran from it; (g) always runs from this checkout)")
    for letter, key in (("e", "bare_rows"), ("f", "bare_rows_checkpoint")):
        if r[f"{key}_over_bare_c16"] is None and r[f"certgate_lint_off_over_{key}_c16"] is None:
            continue
        lines += [
            f"({letter}) / bare, at c=16: req/s {_fmt(r[f'{key}_over_bare_c16'])}, "
            f"CPU ms/req {_fmt(r[f'{key}_over_bare_cpu'])}{_cpu_delta(points, letter, 'b', 'the rows add')}",
            f"certgate lint off / ({letter}), at c=16: req/s {_fmt(r[f'certgate_lint_off_over_{key}_c16'])}, "
            f"CPU ms/req {_fmt(r[f'certgate_lint_off_over_{key}_cpu'])}{_cpu_delta(points, 'c', letter, 'certgate adds')}",
        ]
    lines += [
        "(a): p50/p99 of one pipeline call, CPU per call. (b-f) at c=16, per answered request: CPU of master + "
        "workers; runq = workers runnable but waiting for a CPU (other load on the host);",
        "block = worker wall time neither running nor runnable (locks, I/O, sleeps). err = non-201 answers + "
        "socket errors. (g): req/s = certificates/s, p50/p99 per call of 100, CPU per certificate.",
    ]
    return "\n".join(lines)


def _cpu_delta(points: list[Point], over: str, under: str, words: str) -> str:
    """`; <words> X ms` of CPU per request at c=16, when both targets ran."""
    high, low = _at(points, over, 16), _at(points, under, 16)
    if not high or not low or high.server_cpu_ms_per_request is None or low.server_cpu_ms_per_request is None:
        return ""
    return f" ({words} {high.server_cpu_ms_per_request - low.server_cpu_ms_per_request:+.2f} ms)"
