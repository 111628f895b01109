"""ACME fixtures: an app whose validator connects to an in-process responder, an EAB key, accounts."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service.acme.eab import create_eab_key
from service.acme.validator import Validator
from service.process.config import Settings
from service.process.runtime import Runtime
from service.usecases.domains import add_domain
from service.usecases.ranges import add_range
from tests.acme.client import AcmeTestClient, Responder
from tests.clock import FakeClock
from tests.conftest import TEST_DOMAINS

OWNED_IP, UNOWNED_IP, NAME = "1.2.3.4", "1.2.4.8", "www.example.com"


@pytest.fixture
def http01() -> Iterator[Responder]:
    """The http-01 responder that validation reaches."""
    served = Responder()
    yield served
    served.close()


@pytest.fixture
def acme_runtime(settings: Settings, clock: FakeClock, http01: Responder) -> Iterator[Runtime]:
    """A runtime validating on the responder's port, every name mapped to 127.0.0.1."""
    hosts = {NAME: "127.0.0.1", OWNED_IP: "127.0.0.1", UNOWNED_IP: "127.0.0.1", "other.example.com": "127.0.0.1"}
    rt = Runtime.open(dataclasses.replace(settings, acme_validation_port=http01.port, acme_validation_hosts=hosts),
                      clock=clock)
    with rt.db.write() as session:
        add_range(session, cidr="1.2.3.0/24", owner="netops", actor="test", now=clock())
        for domain in TEST_DOMAINS:
            add_domain(session, domain=domain, owner="web", actor="test", now=clock(), suffixes=rt.judge.suffixes)
    yield rt
    rt.db.dispose()


@pytest.fixture
def acme_app(acme_runtime: Runtime) -> Iterator[Flask]:
    """The app over the ACME runtime; its validator thread ends with the test."""
    from service.process.app import create_app

    app = create_app(acme_runtime.settings, runtime=acme_runtime)
    yield app
    stop_validator(app)


def stop_validator(app: Flask) -> None:
    """End the app's validator thread before its database goes away."""
    validator: Validator = app.extensions["certgate_acme_validator"]
    validator.stop()


@pytest.fixture
def http(acme_app: Flask) -> FlaskClient:
    """Flask's test client."""
    return acme_app.test_client()


@pytest.fixture
def eab_key(acme_runtime: Runtime, clock: FakeClock) -> tuple[str, str]:
    """An EAB key for requester alice."""
    with acme_runtime.db.write() as session:
        made = create_eab_key(session, requester="alice", actor="test", now=clock())
    return made.kid, made.hmac_key


@pytest.fixture
def account(http: FlaskClient, eab_key: tuple[str, str]) -> AcmeTestClient:
    """A registered account acting as alice."""
    client = AcmeTestClient(http)
    assert client.register(eab_key).status_code == 201
    return client
