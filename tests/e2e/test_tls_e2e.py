"""Issued leaves in real TLS: Python's `ssl` and `openssl s_client` trust certgate's root and nothing else.

The server listens on 127.0.0.1 and the clients ask for `tls.example.com` (SNI and hostname check):
certgate will not issue for `localhost`, an internal name the Baseline Requirements forbid
(`test_localhost_is_refused` pins that).
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.conftest import LiveServer
from tests.e2e.pki_clients import CaFiles, Issued, KeyShop, issue, openssl, submit

pytestmark = pytest.mark.e2e
GREETING = b"hello from a certgate leaf\n"
HOST = "tls.example.com"


@dataclass
class TlsServer:
    """A TLS server on 127.0.0.1 in a thread; records each handshake's outcome on its side."""

    context: ssl.SSLContext
    port: int = 0
    outcomes: list[str] = field(default_factory=list)


@contextmanager
def tls_server(context: ssl.SSLContext) -> Iterator[TlsServer]:
    """Serve GREETING to every client that completes a handshake, until the block ends."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    server = TlsServer(context, listener.getsockname()[1])
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(30)
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.sendall(GREETING)
                    server.outcomes.append("ok")
            except (ssl.SSLError, OSError) as exc:
                server.outcomes.append(f"error: {exc}")
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join(timeout=10)
        listener.close()


def server_context(leaf: Issued, key: Path, ca_files: CaFiles, *, with_chain: bool = True) -> ssl.SSLContext:
    """A server context presenting the leaf (and the issuing CA unless told otherwise)."""
    chain = leaf.path.with_suffix(".served.pem")
    chain.write_text(leaf.path.read_text() + (ca_files.issuing.read_text() if with_chain else ""))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(chain, key)
    return ctx


def handshake(ctx: ssl.SSLContext, port: int, hostname: str) -> bytes:
    """Connect, complete the handshake, read the greeting."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw, ctx.wrap_socket(raw, server_hostname=hostname) as tls:
        return tls.recv(len(GREETING))


@pytest.fixture(scope="module")
def server_leaf(live_server: LiveServer, key_shop: KeyShop) -> Issued:
    csr = key_shop.csr("p256", subj=f"/CN={HOST}", san=f"DNS:{HOST}")
    return issue(live_server, csr, token=live_server.tokens["requester"])


def test_handshake_with_a_client_trusting_only_certgates_root(server_leaf: Issued, key_shop: KeyShop, ca_files: CaFiles) -> None:
    client = ssl.create_default_context(cafile=str(ca_files.root))
    assert client.check_hostname and client.verify_mode is ssl.CERT_REQUIRED
    with tls_server(server_context(server_leaf, key_shop.key("p256"), ca_files)) as server:
        assert handshake(client, server.port, HOST) == GREETING
        # ... and the same through openssl's client, with its own hostname check.
        done = openssl("s_client", "-connect", f"127.0.0.1:{server.port}", "-servername", HOST,
                       "-verify_hostname", HOST, "-CAfile", ca_files.root, "-verify_return_error", "-brief",
                       check=False)
        # (s_client then exits 1 on "unexpected eof": this test server closes without close_notify)
        assert "Verification: OK" in done.stderr and f"Verified peername: {HOST}" in done.stderr, done.stdout + done.stderr
        # Whether s_client prints the greeting before the server's close races on a loaded host;
        # the verification lines above are what this check is for.
    assert server.outcomes[0] == "ok"


def test_clients_that_do_not_trust_certgate_refuse(server_leaf: Issued, key_shop: KeyShop, ca_files: CaFiles, tmp_path: Path) -> None:
    other_root = tmp_path / "other-root.pem"
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", tmp_path / "other.key",
            "-subj", "/CN=Some Other Root", "-days", "1", "-out", other_root)
    system_default = ssl.create_default_context()  # the platform's trust store, which has no certgate root
    other = ssl.create_default_context(cafile=str(other_root))
    with tls_server(server_context(server_leaf, key_shop.key("p256"), ca_files)) as server:
        for client in (system_default, other):
            with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer certificate"):
                handshake(client, server.port, HOST)


def test_hostname_is_checked(server_leaf: Issued, key_shop: KeyShop, ca_files: CaFiles) -> None:
    client = ssl.create_default_context(cafile=str(ca_files.root))
    with tls_server(server_context(server_leaf, key_shop.key("p256"), ca_files)) as server:
        with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
            handshake(client, server.port, "www.example.com")


def test_the_issuing_ca_must_be_sent(server_leaf: Issued, key_shop: KeyShop, ca_files: CaFiles) -> None:
    """The root alone cannot vouch for the leaf: the issuing CA in the served chain is needed."""
    client = ssl.create_default_context(cafile=str(ca_files.root))
    with tls_server(server_context(server_leaf, key_shop.key("p256"), ca_files, with_chain=False)) as server:
        with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer certificate"):
            handshake(client, server.port, HOST)


def test_client_auth_eku_decides_mutual_tls(live_server: LiveServer, server_leaf: Issued, key_shop: KeyShop, ca_files: CaFiles) -> None:
    """A server verifying client certificates accepts a leaf with clientAuth and refuses one without."""
    token = live_server.tokens["requester"]
    with_client_auth = issue(live_server, key_shop.csr("rsa2048", subj="/CN=client.example.com"), token=token, client_auth=True)
    server_only = issue(live_server, key_shop.csr("p384", subj="/CN=server-only.example.com"), token=token)
    ctx = server_context(server_leaf, key_shop.key("p256"), ca_files)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cafile=str(ca_files.root))
    with tls_server(ctx) as server:
        for leaf, kind in ((with_client_auth, "rsa2048"), (server_only, "p384")):
            client = ssl.create_default_context(cafile=str(ca_files.root))
            chain = leaf.path.with_suffix(".client.pem")
            chain.write_text(leaf.path.read_text() + ca_files.issuing.read_text())
            client.load_cert_chain(chain, key_shop.key(kind))
            try:
                handshake(client, server.port, HOST)
            except (ssl.SSLError, OSError):
                pass  # TLS 1.3: the client learns of the refusal only when it reads
    assert server.outcomes[0] == "ok"
    assert server.outcomes[1].startswith("error") and "unsuitable certificate purpose" in server.outcomes[1]


def test_localhost_is_refused(live_server: LiveServer, key_shop: KeyShop) -> None:
    """`localhost` is an internal name (BR 7.1.2.7.12): the policy refuses it before any signing
    (the lint, behind it, would too)."""
    status, answer = submit(live_server, key_shop.csr("p256", subj="/CN=localhost", san="DNS:localhost"),
                            token=live_server.tokens["requester"])
    assert status == 422, answer
    assert answer["error"]["code"] == "name_not_allowed"
    assert [v["rule"] for v in answer["error"]["violations"]] == ["name.internal"]
    assert "single label" in answer["error"]["message"]


def test_internal_dns_name_is_a_policy_decision_not_a_ca_alarm(live_server: LiveServer, key_shop: KeyShop) -> None:
    log = live_server.data_dir.parent / "server.log"
    before = log.read_text()
    status, answer = submit(live_server, key_shop.csr("p256", subj="/CN=printer.corp", san="DNS:printer.corp"),
                            token=live_server.tokens["requester"])
    assert status == 422 and answer["error"]["code"] != "lint_failed", answer
    assert "CA profile needs attention" not in log.read_text()[len(before):]
