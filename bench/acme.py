"""ACME orders per second beside the direct API's issuances per second, on the same server, in one run.

    python bench/acme.py [--duration 8] [--concurrency 1,4,16]

One `certgate serve` (2 workers, SQLite, lint on). For each concurrency c, alternately:
- direct: c client processes POST a distinct P-256 CSR to /api/v1/requests (a requester token);
- acme: c client processes each run whole orders with the `acme` library (certbot's):
  new-order (a DNS name and an owned IP) -> authorizations -> http-01 answered by an in-process
  responder -> poll until valid (not when the challenge POST already answered `valid`, as lego
  does) -> finalize -> download the chain.
Every client shares one EAB-bound account key, so the responder can answer any token. The acme
library's own pollers sleep a full second before looking (poll_authorizations,
poll_finalization); the loop here polls every 50 ms instead, so the server is what is measured.
Prints orders/s, issuances/s and their ratio; the server's CPU per issuance and per order (from
/proc, master and workers: unlike rates it barely moves when other processes share the machine)
and their ratio; the clients' CPU per order (the measured window only); the HTTP requests per order
(new-nonce included); and the mean milliseconds each step of an order took.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import importlib.util
import json
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

# This file is called acme.py: keep its folder off the path, or `import acme` finds it instead of
# certbot's library; load the harness by its path instead.
_BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _BENCH]
_spec = importlib.util.spec_from_file_location("harness", _BENCH / "harness.py")
assert _spec is not None and _spec.loader is not None
harness = importlib.util.module_from_spec(_spec)
sys.modules["harness"] = harness
_spec.loader.exec_module(harness)
ROOT, free_port, prepare_certgate, running = harness.ROOT, harness.free_port, harness.prepare_certgate, harness.running
split_pool, csr_pool = harness.split_pool, harness.csr_pool

NAME, IP = "acme-bench.example.com", "5.6.7.8"
STEPS = ("new-order", "authz", "challenge", "validation", "finalize", "download")


def _responder(thumbprint: str) -> tuple[http.server.ThreadingHTTPServer, int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = f"{self.path.rsplit('/', 1)[-1]}.{thumbprint}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def _client(directory_url: str, key_pem: bytes, account_url: str | None) -> Any:
    from acme import client, messages
    from josepy import jwa
    from josepy.jwk import JWK

    key = JWK.load(key_pem)
    net = client.ClientNetwork(key, alg=jwa.ES256, user_agent="certgate-bench")
    send = net._send_request  # noqa: SLF001 - count every HTTP request the client makes (new-nonce too)

    def counted(*args: Any, **kwargs: Any) -> Any:
        net.requests_sent += 1  # type: ignore[attr-defined]
        return send(*args, **kwargs)

    net.requests_sent = 0  # type: ignore[attr-defined]
    net._send_request = counted  # type: ignore[method-assign]  # noqa: SLF001
    acme = client.ClientV2(client.ClientV2.get_directory(directory_url, net), net)
    if account_url:
        net.account = messages.RegistrationResource(uri=account_url, body=messages.Registration())
    return acme


def _csrs(count: int) -> list[bytes]:
    from acme import crypto_util
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    import ipaddress

    out = []
    for _ in range(count):
        key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        out.append(crypto_util.make_csr(key, [NAME], ipaddrs=[ipaddress.ip_address(IP)]))
    return out


def _acme_worker(args: tuple[str, bytes, str, float, int]) -> dict[str, Any]:
    directory_url, key_pem, account_url, seconds, seed = args
    from acme import challenges, messages

    acme = _client(directory_url, key_pem, account_url)
    csrs = _csrs(64)
    steps: dict[str, float] = defaultdict(float)
    done = -1  # the first order warms this client and the server's connections up; not counted
    end = float("inf")
    cpu_start = requests_start = 0.0
    while time.monotonic() < end:
        if done == 0:
            steps.clear()
            end = time.monotonic() + seconds
            cpu_start, requests_start = time.process_time(), acme.net.requests_sent
        t = time.perf_counter()
        order = acme.new_order(csrs[(seed + done) % len(csrs)])
        steps["new-order"] += time.perf_counter() - t
        for authz in order.authorizations:
            t = time.perf_counter()
            chall = next(c for c in authz.body.challenges if isinstance(c.chall, challenges.HTTP01))
            response, _ = chall.response_and_validation(acme.net.key)
            steps["authz"] += time.perf_counter() - t
            t = time.perf_counter()
            answered = acme.answer_challenge(chall, response)
            steps["challenge"] += time.perf_counter() - t
            t = time.perf_counter()
            status = answered.body.status  # as lego does: a challenge answered `valid` needs no poll
            while status not in (messages.STATUS_VALID, messages.STATUS_INVALID):
                polled, _ = acme.poll(authz)
                status = polled.body.status
                if status == messages.STATUS_PENDING:
                    time.sleep(0.05)
            steps["validation"] += time.perf_counter() - t
            assert status == messages.STATUS_VALID, status
        t = time.perf_counter()
        order = acme.begin_finalization(order)
        steps["finalize"] += time.perf_counter() - t
        assert order.body.status == messages.STATUS_VALID, order.body
        t = time.perf_counter()
        chain = acme._post_as_get(order.body.certificate).text  # noqa: SLF001 - poll_finalization sleeps 1 s first
        steps["download"] += time.perf_counter() - t
        assert chain.count("BEGIN CERTIFICATE") == 3
        done += 1
    return {"done": done, "all": done + 1, "steps": dict(steps), "client_cpu": time.process_time() - cpu_start,
            "requests": acme.net.requests_sent - requests_start}


def _direct_worker(args: tuple[str, str, list[bytes], float]) -> dict[str, Any]:
    import urllib.request

    base, token, pems, seconds = args
    done = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        body = json.dumps({"csr": pems[done % len(pems)].decode()}).encode()
        request = urllib.request.Request(base + "/api/v1/requests", data=body, method="POST", headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as answer:
            assert answer.status == 201
        done += 1
    return {"done": done, "all": done}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--concurrency", default="1,4,16")
    parser.add_argument("--keep", action="store_true", help="keep the data dir and server log (printed)")
    options = parser.parse_args()
    levels = [int(c) for c in options.concurrency.split(",")]

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from josepy.jwk import JWKEC

    account_key = ec.generate_private_key(ec.SECP256R1())
    key_pem = account_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())
    jwk = JWKEC(key=account_key)
    import josepy

    responder, responder_port = _responder(josepy.b64encode(jwk.thumbprint()).decode())
    pems = split_pool(csr_pool(2000))
    with contextlib.ExitStack() as stack:
        tmp = tempfile.mkdtemp(prefix="certgate-bench-acme-") if options.keep else stack.enter_context(
            tempfile.TemporaryDirectory(prefix="certgate-bench-acme-"))
        if options.keep:
            print("data dir and server log:", tmp)
        work = Path(tmp)
        token = prepare_certgate(work / "data")
        from service.acme.eab import create_eab_key
        from service.db.session import Database
        from service.process.config import Settings
        from datetime import UTC, datetime

        settings = Settings.from_env({"CERTGATE_DATA_DIR": str(work / "data")})
        db = Database(settings.database_url)
        with db.write() as session:
            eab = create_eab_key(session, requester="bench", actor="cli:bench", now=datetime.now(UTC))
        db.dispose()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "CERTGATE_DATA_DIR": str(work / "data"), "CERTGATE_BASE_URL": base,
               "CERTGATE_ACME_VALIDATION_PORT": str(responder_port),
               "CERTGATE_ACME_VALIDATION_HOSTS": f"{NAME}=127.0.0.1,{IP}=127.0.0.1"}
        argv = [sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--workers", "2"]
        with running("certgate", argv, env, base, work, cwd=ROOT) as server:
            from acme import messages

            registrar = _client(base + "/acme/directory", key_pem, None)
            eab_body = messages.ExternalAccountBinding.from_data(jwk.public_key(), eab.kid, eab.hmac_key,
                                                                 registrar.directory)
            account = registrar.new_account(messages.NewRegistration.from_data(
                terms_of_service_agreed=True, external_account_binding=eab_body))
            rows = []
            ctx = multiprocessing.get_context("fork")
            for c in levels:
                with ctx.Pool(c) as pool:
                    slices = [pems[i::c] for i in range(c)]
                    ticks = harness.cpu_ticks(server.pids)
                    direct = pool.map(_direct_worker, [(base, token, s, options.duration) for s in slices])
                    direct_cpu = (harness.cpu_ticks(server.pids) - ticks) / harness.TICKS / sum(d["all"] for d in direct)
                    ticks = harness.cpu_ticks(server.pids)
                    orders = pool.map(_acme_worker, [(base + "/acme/directory", key_pem, account.uri, options.duration, i * 7)
                                                     for i in range(c)])
                    order_cpu = (harness.cpu_ticks(server.pids) - ticks) / harness.TICKS / sum(o["all"] for o in orders)
                issued = sum(d["done"] for d in direct) / options.duration
                completed = sum(o["done"] for o in orders)
                steps = {s: 1000 * sum(o["steps"].get(s, 0.0) for o in orders) / max(1, completed) for s in STEPS}
                # the measured window only: not the warm-up order, nor start-up and CSR generation
                client_cpu = 1000 * sum(o["client_cpu"] for o in orders) / max(1, completed)
                requests = sum(o["requests"] for o in orders) / max(1, completed)
                rows.append((c, issued, completed / options.duration, steps, 1000 * direct_cpu, 1000 * order_cpu, client_cpu,
                             requests))
    responder.shutdown()
    print(f"{'c':>3} {'direct /s':>10} {'acme orders/s':>14} {'ratio':>6} {'server CPU ms: issuance':>24} "
          f"{'order':>6} {'ratio':>6} {'client CPU ms/order':>20} {'requests/order':>15}   mean ms per order step: "
          + " ".join(STEPS))
    for c, issued, per_second, steps, direct_cpu, order_cpu, client_cpu, requests in rows:
        ratio = per_second / issued if issued else 0.0
        print(f"{c:>3} {issued:>10.1f} {per_second:>14.1f} {ratio:>6.2f} {direct_cpu:>24.1f} {order_cpu:>6.1f} "
              f"{direct_cpu / order_cpu:>6.2f} {client_cpu:>20.1f} {requests:>15.1f}   "
              + " ".join(f"{steps[s]:.0f}" for s in STEPS))


if __name__ == "__main__":
    main()
