"""After a bulk import, the range index is rebuilt off the request path; requests meanwhile get the table's answer."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

import pytest

from flask.testing import FlaskClient

from service.db.session import Database
from service.process.runtime import Runtime
from service.range_registry import RangeRegistry
from service.usecases.ranges import add_range, import_ranges, parse_import
from tests.api.helpers import add_range as api_add_range, submit
from tests.factories import csr_pem

NOW = datetime(2026, 12, 3, tzinfo=UTC)
BULK = [f"44.{i // 256}.{i % 256}.0/24,bulk\n" for i in range(5000)] + ["2a02:4780::/32,bulk6\n"]


def test_the_table_answers_like_the_index(database_url: str) -> None:
    """The fallback lookup finds the same most specific range as the index, IPv4 and IPv6, nested or not."""
    db = Database(database_url)
    with db.write() as session:
        for cidr, owner in (("5.6.0.0/16", "wide"), ("5.6.7.0/24", "narrow"), ("5.6.7.8/32", "host"),
                            ("0.0.0.0/0", "all4"), ("2a00:1450::/32", "v6"), ("2a00:1450:4001::/48", "v6narrow")):
            add_range(session, cidr=cidr, owner=owner, actor="test", now=NOW)
    registry = RangeRegistry(db)
    registry.refresh()
    for ip in ("5.6.7.8", "5.6.7.9", "5.6.8.1", "9.9.9.9", "2a00:1450:4001::1", "2a00:1450:4002::1", "2001:db8::1"):
        assert registry._lookup_in_table(ip) == registry.current().lookup(ip), ip
    db.dispose()


def test_a_submission_during_the_swap_gets_the_imported_ranges(client: FlaskClient, tokens: dict[str, str],
                                                               runtime: Runtime) -> None:
    api_add_range(client, tokens["admin"], "5.6.7.0/24")
    gate = threading.Event()
    registry = RangeRegistry(runtime.db, refresh_seconds=0, before_swap=gate.wait)
    registry.refresh()
    runtime.ranges = runtime.judge.owned = registry  # this worker's registry, held at the swap by `gate`
    with runtime.db.write() as session:
        import_ranges(session, parse_import(BULK), actor="cli", now=NOW)

    # Committed: the next request starts the rebuild and, while it is held, is judged from the table.
    first = submit(client, tokens["requester"], csr_pem(cn=None, ips=["44.1.2.3"]))
    assert first.status_code == 201, first.get_json()
    assert registry.rebuilding and not registry.built
    assert submit(client, tokens["requester"], csr_pem(cn=None, ips=["2a02:4780::9"])).status_code == 201
    assert submit(client, tokens["requester"], csr_pem(cn=None, ips=["5.6.7.8"])).status_code == 201
    outside = submit(client, tokens["requester"], csr_pem(cn=None, ips=["9.9.9.9"]))
    assert outside.status_code == 202 and outside.get_json()["violations"][0]["code"] == "ip_not_owned"
    # A change made during the rebuild is seen at once, and kept after the swap.
    api_add_range(client, tokens["admin"], "45.0.0.0/16")
    assert submit(client, tokens["requester"], csr_pem(cn=None, ips=["45.0.1.1"])).status_code == 201
    assert registry.rebuilding

    gate.set()
    assert registry.wait_for_rebuild(timeout=60)
    for ip in ("44.19.135.7", "45.0.1.2", "5.6.7.9"):
        assert submit(client, tokens["requester"], csr_pem(cn=None, ips=[ip])).status_code == 201, ip
    assert registry.built and registry.rebuilds == 1
    assert len(registry.current()) == 5000 + 1 + 2
    assert submit(client, tokens["requester"], csr_pem(cn=None, ips=["9.9.9.9"])).status_code == 202


def test_a_failed_rebuild_is_logged_and_the_next_refresh_builds_again(database_url: str,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    """A rebuild that dies (the database went away mid-build) leaves no index, logs why, and the
    table keeps answering until a later refresh builds again."""
    db = Database(database_url)
    with db.write() as session:
        add_range(session, cidr="5.6.7.0/24", owner="team", actor="test", now=NOW)
    failures = iter([RuntimeError("the connection is lost")])

    def fail_once() -> None:
        failure = next(failures, None)
        if failure is not None:
            raise failure

    registry = RangeRegistry(db, refresh_seconds=0, before_swap=fail_once)
    registry.refresh()
    with db.write() as session:
        import_ranges(session, parse_import(BULK[:10]), actor="cli", now=NOW)
    with caplog.at_level(logging.ERROR, logger="certgate.ranges"):
        registry.refresh()  # starts the rebuild, which fails before its swap
        assert registry.wait_for_rebuild(timeout=60) and not registry.built
    assert "range index rebuild failed" in caplog.text
    assert registry._lookup_in_table("44.0.3.9") is not None  # the table still answers
    registry.refresh()  # no index: builds again (in the caller, as at start-up)
    assert registry.built and registry.current().lookup("44.0.3.9") is not None
    db.dispose()
