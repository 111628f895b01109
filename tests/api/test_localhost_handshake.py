"""A `localhost` certificate from the API completes a real TLS handshake on 127.0.0.1.

`localhost` is an internal name: with the default policy the name rules (and behind them the
pre-issuance lint) refuse it (`name_not_allowed`, pinned in tests/e2e/test_tls_e2e.py). An
operator who wants such certificates for an internal CA allows internal names, registers
`localhost` as an owned domain and turns the lint off in the policy file; this test does that.
"""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from policies.config import DEFAULT_POLICY_PATH
from service.process.app import create_app
from service.process.config import Settings
from tests.api.helpers import submit
from tests.clock import FakeClock
from tests.conftest import bearer
from tests.factories import csr_pem, key


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_localhost_certificate_handshakes_with_a_client_trusting_only_the_root(
        tmp_path: Path, settings: Settings, clock: FakeClock, tokens: dict[str, str]) -> None:
    policy = tmp_path / "nolint.toml"
    policy.write_text(DEFAULT_POLICY_PATH.read_text().replace("enabled = true", "enabled = false")
                      .replace("allow_internal = false", "allow_internal = true"))
    client = create_app(replace(settings, policy_file=policy), clock=clock).test_client()
    added = client.post("/api/v1/domains", json={"domain": "localhost"}, headers=bearer(tokens["admin"]))
    assert added.status_code == 201, added.get_json()
    server_key = key("p256", 3)
    answer = submit(client, tokens["requester"], csr_pem(cn="localhost", dns=["localhost"], private_key=server_key))
    assert answer.status_code == 201, answer.get_json()
    cert = answer.get_json()["certificate"]
    (tmp_path / "chain.pem").write_text(cert["pem"] + cert["chain_pem"].split("-----END CERTIFICATE-----")[0]
                                        + "-----END CERTIFICATE-----\n")
    (tmp_path / "key.pem").write_bytes(server_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                                serialization.NoEncryption()))
    root_pem = "-----BEGIN CERTIFICATE-----" + cert["chain_pem"].split("-----BEGIN CERTIFICATE-----")[2]
    (tmp_path / "root.pem").write_text(root_pem)

    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "chain.pem", tmp_path / "key.pem")
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    received: list[bytes] = []

    def serve() -> None:
        conn, _ = listener.accept()
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            received.append(tls.recv(5))
            tls.sendall(b"pong!")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client_ctx = ssl.create_default_context(cafile=str(tmp_path / "root.pem"))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            client_ctx.wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(b"ping!")
        assert tls.recv(5) == b"pong!"
        assert tls.getpeercert()["subject"] == ((("commonName", "localhost"),),)
    thread.join(timeout=10)
    listener.close()
    assert received == [b"ping!"]
