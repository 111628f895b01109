"""A challenge POST waits, bounded, for its validation and answers the challenge as it then stands."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from service.acme.challenges import claim_next, current_challenge, record_validation, respond
from service.acme.reads import account_by_id
from service.acme.validator import Validator
from service.process.config import Settings
from service.process.runtime import Runtime
from tests.acme.client import AcmeTestClient, Responder, wait_for
from tests.acme.conftest import NAME, OWNED_IP
from tests.clock import FakeClock


def _waiting_for(rt: Runtime, seconds: float) -> None:
    rt.settings = dataclasses.replace(rt.settings, acme_challenge_wait_seconds=seconds)


def _within(seconds: float, condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _http01_of(client: AcmeTestClient, responder: Responder, *values: str) -> tuple[str, dict[str, Any]]:
    """A new order's first authorization URL and its http-01 challenge, answered by `responder`."""
    kinds = [{"type": "ip" if value[0].isdigit() else "dns", "value": value} for value in values]
    created = client.post("/new-order", {"identifiers": kinds}).get_json()
    authz_url = created["authorizations"][0]
    challenge = next(c for c in client.post(authz_url).get_json()["challenges"] if c["type"] == "http-01")
    responder.answers[challenge["token"]] = client.key_authorization(challenge["token"])
    return authz_url, challenge


def test_the_challenge_post_answers_valid_when_validation_finished_within_the_wait(
        account: AcmeTestClient, http01: Responder, acme_runtime: Runtime) -> None:
    _waiting_for(acme_runtime, 60)  # far above any validation here: the answer does not depend on timing
    authz_url, challenge = _http01_of(account, http01, NAME)
    answered = account.post(challenge["url"], {})
    assert answered.status_code == 200
    body = answered.get_json()
    assert body["status"] == "valid" and "validated" in body
    assert f'<{authz_url}>;rel="up"' in answered.headers.getlist("Link")
    assert account.post(authz_url).get_json()["status"] == "valid"  # no poll needed


def test_the_wait_is_bounded_then_the_challenge_answers_processing(
        account: AcmeTestClient, http01: Responder, acme_runtime: Runtime) -> None:
    _waiting_for(acme_runtime, 0.2)
    authz_url, challenge = _http01_of(account, http01, OWNED_IP)
    http01.open.clear()  # the validation fetch hangs until the gate opens again
    try:
        answered = account.post(challenge["url"], {})
    finally:
        http01.open.set()
    assert answered.status_code == 200 and answered.get_json()["status"] == "processing"
    assert wait_for(account, authz_url, ("valid", "invalid"))["status"] == "valid"


def test_no_wait_when_it_is_set_to_zero(account: AcmeTestClient, http01: Responder, acme_runtime: Runtime) -> None:
    _waiting_for(acme_runtime, 0)
    authz_url, challenge = _http01_of(account, http01, OWNED_IP)
    http01.open.clear()
    try:
        assert account.post(challenge["url"], {}).get_json()["status"] == "processing"
    finally:
        http01.open.set()
    assert wait_for(account, authz_url, ("valid", "invalid"))["status"] == "valid"


def _started(account: AcmeTestClient, http01: Responder, rt: Runtime, clock: FakeClock) -> str:
    """A challenge the client has answered, started by the use case (no validator kicked)."""
    _, challenge = _http01_of(account, http01, NAME)
    with rt.db.direct_read() as reads:
        row = account_by_id(reads, str(account.kid).rsplit("/", 1)[-1])
    assert row is not None
    found, _, _ = respond(rt.db, row, challenge["url"].rsplit("/", 1)[-1], clock())
    assert found.status == "processing"
    return found.id


def test_a_waiter_is_signalled_when_its_validator_records_the_challenge(
        account: AcmeTestClient, http01: Responder, acme_runtime: Runtime, clock: FakeClock) -> None:
    challenge_id = _started(account, http01, acme_runtime, clock)
    validator = Validator(acme_runtime.db, port=http01.port, hosts={NAME: "127.0.0.1"}, clock=clock)
    with validator.expecting(challenge_id) as expected, validator.expecting("another-challenge") as other:
        assert not expected.finished.is_set()
        assert validator.run_once()  # this thread, no validator thread: it claims, validates, records
        assert expected.finished.is_set() and not other.finished.is_set()


def test_a_challenge_claimed_by_another_validator_releases_the_waiter_as_processing(
        account: AcmeTestClient, http01: Responder, acme_runtime: Runtime, clock: FakeClock) -> None:
    rt = acme_runtime
    challenge_id = _started(account, http01, rt, clock)
    elsewhere = claim_next(rt.db, clock())  # another worker or instance holds it
    assert elsewhere is not None and elsewhere.challenge_id == challenge_id
    validator = Validator(rt.db, port=http01.port, hosts={NAME: "127.0.0.1"}, clock=clock)
    try:
        with validator.expecting(challenge_id) as expected:
            validator.kick(expected)
            assert expected.finished.wait(60)  # released by a round that found nothing to claim
        assert current_challenge(rt.db, challenge_id).status == "processing"
        record_validation(rt.db, elsewhere, None, [], clock())  # the other one finishes it
        assert current_challenge(rt.db, challenge_id).status == "valid"
    finally:
        validator.stop()


def test_an_idle_validator_is_handed_the_challenge_claimed_in_the_transaction_that_starts_it(
        account: AcmeTestClient, http01: Responder, acme_runtime: Runtime, clock: FakeClock) -> None:
    rt = acme_runtime
    _, challenge = _http01_of(account, http01, NAME)
    with rt.db.direct_read() as reads:
        row = account_by_id(reads, str(account.kid).rsplit("/", 1)[-1])
    assert row is not None
    validator = Validator(rt.db, port=http01.port, hosts={NAME: "127.0.0.1"}, clock=clock)
    try:
        assert not validator.idle()  # no thread in this process yet
        validator.kick()
        assert _within(60, validator.idle)  # its first round found nothing
        found, _, claimed = respond(rt.db, row, challenge["url"].rsplit("/", 1)[-1], clock(), claim=True)
        assert claimed is not None and claimed.challenge_id == found.id and found.claimed_until is not None
        assert claim_next(rt.db, clock()) is None  # no other validator takes it while the claim holds
        with validator.expecting(found.id) as expected:
            validator.kick(expected, claimed)
            assert expected.finished.wait(60)
        assert expected.recorded is not None and expected.recorded["status"] == "valid"
        stored = current_challenge(rt.db, found.id)
        assert stored.status == "valid" and stored.claimed_until is None and stored.record == expected.recorded["record"]
    finally:
        validator.stop()


def test_the_wait_is_a_setting() -> None:
    assert Settings.from_env({}).acme_challenge_wait_seconds == 1.0
    assert Settings.from_env({"CERTGATE_ACME_CHALLENGE_WAIT_SECONDS": "0.5"}).acme_challenge_wait_seconds == 0.5
    assert Settings.from_env({"CERTGATE_ACME_CHALLENGE_WAIT_SECONDS": "0"}).acme_challenge_wait_seconds == 0.0
    assert Settings.from_env({"CERTGATE_ACME_CHALLENGE_WAIT_SECONDS": "-3"}).acme_challenge_wait_seconds == 0.0
    assert Settings.from_env({"CERTGATE_ACME_CHALLENGE_WAIT_SECONDS": "inf"}).acme_challenge_wait_seconds == 10.0


def test_a_later_empty_round_does_not_overwrite_what_a_released_wait_was_given(acme_runtime: Runtime,
                                                                               clock: FakeClock) -> None:
    """The race CI once hit: a round validates a handed challenge and releases its POST with the
    recorded columns; the next round finds the pool empty and releases every wait kicked before it.
    The first release must stand (the POST may not have read it yet)."""
    validator = Validator(acme_runtime.db, port=1, hosts={}, clock=clock)
    with validator.expecting("challenge-1") as expected:
        expected.kicked_before_round = 0
        validator._release(lambda e: e.challenge_id == "challenge-1", {"status": "valid"})
        validator._release(lambda e: e.kicked_before_round is not None and e.kicked_before_round < 2)
        assert expected.finished.is_set() and expected.recorded == {"status": "valid"}
