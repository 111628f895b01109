"""A small ACME test client over Flask's test client: signs with the `acme` package's JWS (certbot's)."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from acme import jws as acme_jws
from acme import messages
from cryptography.hazmat.primitives.asymmetric import ec
from flask.testing import FlaskClient
import josepy
from josepy import jwa
from josepy.jwk import JWK, JWKEC
from werkzeug.test import TestResponse

BASE = "http://localhost/acme"
JOSE = {"Content-Type": "application/jose+json"}


def new_key() -> JWK:
    """A fresh P-256 account key."""
    return JWKEC(key=ec.generate_private_key(ec.SECP256R1()))


class AcmeTestClient:
    """One ACME account's view of the server."""

    def __init__(self, http: FlaskClient, key: JWK | None = None) -> None:
        self.http = http
        self.key = key or new_key()
        self.kid: str | None = None

    def nonce(self) -> str:
        """A fresh nonce from new-nonce."""
        return str(self.http.head("/acme/new-nonce").headers["Replay-Nonce"])

    def jws(self, url: str, payload: Any, *, use_jwk: bool = False, nonce: str | None = None, key: JWK | None = None,
            alg: jwa.JWASignature = jwa.ES256) -> bytes:
        """A signed body: `payload` None is POST-as-GET, bytes are sent as they are."""
        raw = b"" if payload is None else payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        signed = acme_jws.JWS.sign(raw, key=key or self.key, alg=alg, nonce=josepy.b64decode(nonce or self.nonce()),
                                   url=url, kid=None if use_jwk else self.kid)
        return signed.json_dumps().encode()

    def post(self, path: str, payload: Any = None, **kw: Any) -> TestResponse:
        """POST a signed request to BASE + path (or a full URL)."""
        url = path if path.startswith("http") else BASE + path
        return self.http.post(url.removeprefix("http://localhost"), data=self.jws(url, payload, **kw), headers=JOSE)

    def eab(self, kid: str, hmac_key: str) -> dict[str, Any]:
        """An externalAccountBinding for this key, built by the acme package."""
        directory = messages.Directory.from_json(self.http.get("/acme/directory").get_json())
        return dict(messages.ExternalAccountBinding.from_data(self.key.public_key(), kid, hmac_key, directory))

    def register(self, eab: tuple[str, str] | None) -> TestResponse:
        """new-account (terms agreed), with EAB when given; remembers the kid."""
        payload: dict[str, Any] = {"termsOfServiceAgreed": True}
        if eab is not None:
            payload["externalAccountBinding"] = self.eab(*eab)
        response = self.post("/new-account", payload, use_jwk=True)
        if response.status_code in (200, 201):
            self.kid = response.headers["Location"]
        return response

    def key_authorization(self, token: str) -> str:
        """token.thumbprint, what http-01 serves."""
        return f"{token}.{josepy.b64encode(self.key.thumbprint()).decode()}"


class Responder:
    """An http-01 responder on 127.0.0.1: serves whatever key authorizations it is given."""

    def __init__(self) -> None:
        self.answers: dict[str, str] = {}
        self.open = threading.Event()  # cleared: every fetch waits until it is set again
        self.open.set()
        answers, gate = self.answers, self.open

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                gate.wait(30)
                token = self.path.rsplit("/", 1)[-1]
                body = answers.get(token)
                self.send_response(200 if body else 404)
                self.end_headers()
                self.wfile.write((body or "").encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


def wait_for(client: AcmeTestClient, url: str, until: tuple[str, ...], timeout: float = 20) -> dict[str, Any]:
    """POST-as-GET `url` until its status is one of `until`."""
    deadline = time.monotonic() + timeout
    while True:
        body = client.post(url).get_json()
        if body["status"] in until or time.monotonic() > deadline:
            return dict(body)
        time.sleep(0.05)


@contextmanager
def responder() -> Iterator[Responder]:
    """A running responder."""
    served = Responder()
    try:
        yield served
    finally:
        served.close()
