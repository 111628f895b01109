"""The load test's client side: keep-alive HTTP callers, the work they share, and the latency recorder."""

from __future__ import annotations

import http.client
import ipaddress
import json
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

KEYS = [ec.generate_private_key(ec.SECP256R1()) for _ in range(8)]  # signing a CSR is cheap; keygen is not


def make_csr(rng: random.Random, ip: str) -> str:
    """A PEM CSR naming one DNS name and `ip`."""
    name = f"h{rng.getrandbits(40):x}.load.example.com"
    builder = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
               .add_extension(x509.SubjectAlternativeName([x509.DNSName(name), x509.IPAddress(ipaddress.ip_address(ip))]),
                              critical=False))
    return builder.sign(rng.choice(KEYS), hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


@dataclass
class Shared:
    """Work one client leaves for another: exceptions to decide, certificates to revoke."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    pending: list[str] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)

    def put(self, kind: str, value: str) -> None:
        with self.lock:
            getattr(self, kind).append(value)

    def take(self, kind: str, rng: random.Random) -> str | None:
        with self.lock:
            items: list[str] = getattr(self, kind)
            if not items:
                return None
            return items.pop(rng.randrange(len(items)))


class Recorder:
    """Latencies and statuses per operation, from every client thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[str, Counter[int]] = defaultdict(Counter)
        self.reconnects = 0
        self.errors: list[str] = []

    def add(self, op: str, seconds: float, status: int) -> None:
        with self._lock:
            self.latency[op].append(seconds)
            self.statuses[op][status] += 1

    def server_errors(self) -> int:
        return sum(n for counts in self.statuses.values() for status, n in counts.items() if status >= 500)

    def summary(self, elapsed: float) -> dict[str, dict[str, Any]]:
        out = {}
        for op in sorted(self.latency):
            values = sorted(self.latency[op])
            out[op] = {"count": len(values), "per_s": len(values) / elapsed, "p50_ms": 1000 * _quantile(values, 0.50),
                       "p99_ms": 1000 * _quantile(values, 0.99), "statuses": dict(sorted(self.statuses[op].items()))}
        return out

    def table(self, elapsed: float) -> str:
        rows = self.summary(elapsed)
        total = sum(r["count"] for r in rows.values())
        lines = [f"{'operation':<18} {'count':>7} {'ops/s':>8} {'p50 ms':>8} {'p99 ms':>8}  statuses",
                 "-" * 78]
        for op, r in rows.items():
            statuses = " ".join(f"{s}:{n}" for s, n in r["statuses"].items())
            lines.append(f"{op:<18} {r['count']:>7} {r['per_s']:>8.1f} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f}  {statuses}")
        lines += ["-" * 78, f"{'all':<18} {total:>7} {total / elapsed:>8.1f}   "
                  f"(client reconnects: {self.reconnects}, transport errors: {len(self.errors)})"]
        return "\n".join(lines)


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(q * len(values)))]


class Client:
    """One simulated user agent: a keep-alive connection, reopened whenever the server closes it."""

    def __init__(self, host: str, port: int, tokens: Mapping[str, str], shared: Shared, recorder: Recorder,
                 rng: random.Random) -> None:
        self.host, self.port, self.tokens = host, port, tokens
        self.shared, self.recorder, self.rng = shared, recorder, rng
        self.conn: http.client.HTTPConnection | None = None

    def call(self, method: str, path: str, who: str, body: object = None) -> tuple[int, Any]:
        """One request; the server's `Connection: close` (gunicorn sync workers) reopens the socket."""
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self.tokens[who]}", "Connection": "keep-alive"}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
            try:
                self.conn.request(method, path, body=payload, headers=headers)
            except (ConnectionError, http.client.HTTPException) as exc:
                # Sending failed: the request never reached the server, so resending is safe.
                self._drop()
                self.recorder.reconnects += 1
                if attempt == 2:
                    self.recorder.errors.append(f"{method} {path}: {exc!r}")
                    return 0, None
                continue
            response = self.conn.getresponse()
            raw = response.read()
            if response.will_close:
                self._drop()
                self.recorder.reconnects += 1
            ctype = response.getheader("Content-Type", "")
            return response.status, json.loads(raw) if "json" in ctype and raw else raw
        return 0, None

    def _drop(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = None

    def run(self, mix: Mapping[str, int], stop_at: float) -> None:
        ops, weights = list(mix), list(mix.values())
        while time.monotonic() < stop_at:
            op = self.rng.choices(ops, weights)[0]
            try:
                getattr(self, op)()
            except Exception as exc:  # noqa: BLE001 - a load client keeps going; the error is reported
                self.recorder.errors.append(f"{op}: {exc!r}")
        self._drop()

    def _timed(self, op: str, method: str, path: str, who: str, body: object = None) -> tuple[int, Any]:
        started = time.perf_counter()
        status, answer = self.call(method, path, who, body)
        self.recorder.add(op, time.perf_counter() - started, status)
        return status, answer

    # --- operations ---------------------------------------------------------------------------

    def submit_compliant(self) -> None:
        ip = f"5.6.{self.rng.randrange(256)}.{self.rng.randrange(1, 255)}"
        who = self.rng.choice(("requester", "requester2"))
        status, body = self._timed("submit_compliant", "POST", "/api/v1/requests", who, {"csr": make_csr(self.rng, ip)})
        if status == 201:
            self.shared.put("issued", body["certificate"]["serial_number"])

    def submit_exception(self) -> None:
        ip = f"9.9.{self.rng.randrange(256)}.{self.rng.randrange(1, 255)}"
        who = self.rng.choice(("requester", "requester2"))
        status, body = self._timed("submit_exception", "POST", "/api/v1/requests", who, {"csr": make_csr(self.rng, ip)})
        if status == 202:
            self.shared.put("pending", body["exception"]["id"])

    def approve(self) -> None:
        review = self.shared.take("pending", self.rng)
        if review is None:
            return self.read_inventory()
        who = self.rng.choice(("approver", "approver2"))
        status, body = self._timed("approve", "POST", f"/api/v1/exceptions/{review}/approve", who, {"reason": "load test"})
        if status == 200 and body.get("certificate"):
            self.shared.put("issued", body["certificate"]["serial_number"])
        return None

    def revoke(self) -> None:
        serial = self.shared.take("issued", self.rng)
        if serial is None:
            return self.read_audit()
        self._timed("revoke", "POST", f"/api/v1/certificates/{serial}/revoke", "admin", {"reason": "superseded"})
        return None

    def read_inventory(self) -> None:
        query = self.rng.choice(("?per_page=50", "?status=valid&per_page=20", "?ip=5.6.0.0/16&per_page=20",
                                 "?dns=*.load.example.com&per_page=20"))
        self._timed("read_inventory", "GET", "/api/v1/certificates" + query, self.rng.choice(("auditor", "approver")))

    def read_audit(self) -> None:
        query = self.rng.choice(("?per_page=50", "?event=certificate:issued&per_page=50", "?actor=alice&per_page=20"))
        self._timed("read_audit", "GET", "/api/v1/audit" + query, "auditor")
