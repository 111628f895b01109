"""Two instances over one database serve one order: nonces, accounts and orders live in the database."""

from __future__ import annotations

from flask.testing import FlaskClient

from service.process.app import create_app
from service.process.runtime import Runtime
from tests.acme.client import AcmeTestClient, Responder
from tests.acme.conftest import NAME, OWNED_IP, stop_validator
from tests.acme.orders import csr_der, finalize, ready_order
from tests.acme.test_errors import problem
from tests.clock import FakeClock


def test_a_nonce_from_one_instance_is_good_once_on_the_other(acme_runtime: Runtime, http: FlaskClient, clock: FakeClock,
                                                             eab_key: tuple[str, str], http01: Responder) -> None:
    other_runtime = Runtime.open(acme_runtime.settings, clock=clock)
    other_app = create_app(other_runtime.settings, runtime=other_runtime)
    try:
        other = other_app.test_client()
        on_a = AcmeTestClient(http)
        assert on_a.register(eab_key).status_code == 201
        on_b = AcmeTestClient(other, on_a.key)
        on_b.kid = on_a.kid
        nonce = on_a.nonce()  # from instance A
        assert on_b.post(str(on_b.kid), nonce=nonce).status_code == 200  # used on B
        problem(on_a.post(str(on_a.kid), nonce=nonce), "badNonce")  # and gone on A too
        _, order = ready_order(on_b, http01, NAME, OWNED_IP)  # ordered and validated through B
        done = finalize(on_a, order, csr_der(NAME, OWNED_IP))  # finalized on A
        assert done.get_json()["status"] == "valid"
        assert on_b.post(done.get_json()["certificate"]).status_code == 200
    finally:
        stop_validator(other_app)
        other_runtime.db.dispose()
