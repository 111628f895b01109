"""A real `certgate serve` (granian or gunicorn) on 127.0.0.1 and a free port, for real clients."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from service.cli.setup import pick_server
from tests.conftest import TEST_DOMAINS, TOKEN_NAMES
from tests.e2e.pki_clients import CaFiles, KeyShop


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    """A running server and what a client needs to talk to it."""

    url: str
    env: dict[str, str]
    data_dir: Path
    tokens: dict[str, str]
    process: subprocess.Popen[bytes]
    ssl_context: ssl.SSLContext | None = None  # set for `--tls`: trusts only this server's root CA
    server_kind: str = "gunicorn"  # what `certgate serve --server` ran (auto resolved)

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the `certgate` CLI against this server's data dir and database."""
        return subprocess.run([sys.executable, "-m", "service.cli", *args], env=self.env, text=True,
                              capture_output=True, check=check, timeout=120)

    def call(self, method: str, path: str, *, token: str | None = None, body: object = None,
             data: bytes | None = None, content_type: str = "application/json") -> tuple[int, object]:
        """One HTTP call; JSON answers are decoded."""
        headers = {"Content-Type": content_type}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        payload = json.dumps(body).encode() if body is not None else data
        req = urllib.request.Request(self.url + path, data=payload, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=60, context=self.ssl_context) as resp:
                raw, status, ctype = resp.read(), resp.status, resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            raw, status, ctype = exc.read(), exc.code, exc.headers.get("Content-Type", "")
        return status, json.loads(raw) if "json" in ctype else raw


def start_server(tmp: Path, *, database_url: str | None = None, workers: int = 2, extra_env: dict[str, str] | None = None,
                 serve_args: Sequence[str] = (), token_keys: Sequence[str] | None = None,
                 domains: Sequence[str] = TEST_DOMAINS) -> LiveServer:
    """Start `certgate serve` with its own data dir; wait until /healthz answers.

    `serve_args` go to `certgate serve` as they are; with `--tls` among them the server is
    reached over HTTPS, trusting only the root CA the server created. `token_keys` limits the
    tokens made (keys of TOKEN_NAMES; all by default): each one costs a CLI run.
    """
    port = free_port()
    data_dir = tmp / "data"
    env = {**os.environ, "CERTGATE_DATA_DIR": str(data_dir), "CERTGATE_BASE_URL": f"http://127.0.0.1:{port}",
           "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    if database_url:
        env["CERTGATE_DATABASE_URL"] = database_url
    log = (tmp / "server.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--workers", str(workers),
                                *serve_args], env=env, stdout=log, stderr=subprocess.STDOUT)
    tls = "--tls" in serve_args
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    context: ssl.SSLContext | None = None
    deadline = time.monotonic() + 60
    while True:
        try:
            if tls and context is None:
                context = ssl.create_default_context(cafile=str(data_dir / "ca" / "root.pem"))
            with urllib.request.urlopen(url + "/healthz", timeout=2, context=context) as resp:
                if resp.status == 200:
                    break
        except (OSError, ssl.SSLError):
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("server did not start:\n" + (tmp / "server.log").read_text())
        time.sleep(0.1)
    args = list(serve_args)
    backlog = int(args[args.index("--backlog") + 1]) if "--backlog" in args else 2048
    kind = pick_server(args[args.index("--server") + 1] if "--server" in args else "auto", tls=tls, backlog=backlog)
    server = LiveServer(url, env, data_dir, {}, process, context, kind)
    server.tokens.update(_create_tokens(server, token_keys, domains))
    return server


# Every CLI process pays seconds of imports (SQLAlchemy, pkilint); the six tokens are made by the
# real `certgate token create` command, but in one interpreter, which also owns the test domains
# (`certgate domains add`, as the API tests' `tokens` fixture does).
_TOKEN_SCRIPT = """
import contextlib, io, json, sys
from service.cli import main
secrets = {}
for key, name, role in json.loads(sys.argv[1]):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(["token", "create", "--role", role, "--name", name], standalone_mode=False)
    secrets[key] = out.getvalue().strip().splitlines()[-1]
with contextlib.redirect_stdout(io.StringIO()):
    for domain in json.loads(sys.argv[2]):
        main(["domains", "add", domain, "--owner", "web"], standalone_mode=False)
print(json.dumps(secrets))
"""


def _create_tokens(server: LiveServer, only: Iterable[str] | None = None,
                   domains: Sequence[str] = TEST_DOMAINS) -> dict[str, str]:
    """One token per test identity (see TOKEN_NAMES), through `certgate token create`; `domains` owned."""
    wanted = set(only) if only is not None else set(TOKEN_NAMES)
    spec = json.dumps([[key, name, role.value] for key, (name, role) in TOKEN_NAMES.items() if key in wanted])
    done = subprocess.run([sys.executable, "-c", _TOKEN_SCRIPT, spec, json.dumps(list(domains))], env=server.env, text=True,
                          capture_output=True, check=True, timeout=120)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def stop_server(server: LiveServer) -> None:
    """Stop gracefully, then hard."""
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One real server (SQLite) shared by the e2e modules.

    Starting one costs several seconds of imports and forks, so the modules share it; every test
    works on its own requests and certificates and checks CRL numbers relative to what it saw.
    """
    server = start_server(tmp_path_factory.mktemp("live"))
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def ca_files(live_server: LiveServer) -> CaFiles:
    """The shared server's root, issuing CA and published chain."""
    return CaFiles.of(live_server)


@pytest.fixture(scope="session")
def key_shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyShop]:
    """openssl keys of every allowed type, made once per session (in parallel)."""
    shop = KeyShop(tmp_path_factory.mktemp("keys"))
    yield shop
    shop.close()
