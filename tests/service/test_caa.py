"""CAA (RFC 8659) against an authoritative DNS server that the test runs on 127.0.0.1 (dnslib).

No record, `issue` allowing, `issue` forbidding (also found by climbing the tree), `issuewild`,
a CNAME on the way, a critical unknown tag, and SERVFAIL; then the same through the API, where
the dry run and the real submission answer alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from dnslib import CAA, CNAME, QTYPE, RCODE, RR, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSServer

from policies.caa import caa_refusal
from policies.config import DEFAULT_POLICY_PATH
from service.caa import CaaResolver, parse_resolvers
from service.process.app import create_app
from service.process.config import Settings
from tests.api.helpers import row_counts, submit
from tests.clock import FakeClock
from tests.factories import csr_pem

IDENTITY = "certgate.test"
CAA_RECORDS: dict[str, list[tuple[int, str, str]]] = {
    "allow.example.com": [(0, "issue", IDENTITY), (0, "iodef", "mailto:sec@example.com")],
    "params.example.com": [(0, "issue", f"{IDENTITY}; accounturi=https://x/1")],
    "deny.example.com": [(0, "issue", "letsencrypt.org")],
    "nobody.example.com": [(0, "issue", ";")],
    "wild.example.com": [(0, "issue", IDENTITY), (0, "issuewild", ";")],
    "wildok.example.com": [(0, "issue", "letsencrypt.org"), (0, "issuewild", IDENTITY)],
    "critical.example.com": [(0, "issue", IDENTITY), (128, "tbs", "unknown")],
    "target.example.net": [(0, "issue", "letsencrypt.org")],
}
CNAMES = {"alias.example.com": "target.example.net"}
EXISTING = {"example.com", "com", "example.net", "net", "nocaa.example.com", "www.allow.example.com",
            "sub.deny.example.com", "www.wild.example.com"}
SERVFAIL = {"broken.example.com"}


class _Zone(BaseResolver):  # type: ignore[misc]
    """Answers CAA as an authoritative server (and, for the CNAME, as a recursive one would)."""

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        if name in SERVFAIL:
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        target = CNAMES.get(name)
        if target is not None:
            reply.add_answer(RR(name, QTYPE.CNAME, rdata=CNAME(target), ttl=60))
            name = target
        records = CAA_RECORDS.get(name, [])
        if request.q.qtype == QTYPE.CAA:
            for flags, tag, value in records:
                reply.add_answer(RR(name, QTYPE.CAA, rdata=CAA(flags, tag, value), ttl=60))
        if not records and target is None and name not in EXISTING:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


@pytest.fixture(scope="module")
def dns_port() -> Iterator[int]:
    server = DNSServer(_Zone(), address="127.0.0.1", port=0)
    server.start_thread()
    yield int(server.server.server_address[1])
    server.stop()


@pytest.fixture
def resolver(dns_port: int) -> CaaResolver:
    return CaaResolver(parse_resolvers(f"127.0.0.1:{dns_port}"), lifetime=2.0)


@pytest.mark.parametrize(("name", "allowed", "owner"), [
    ("nocaa.example.com", True, None),            # no record up the tree: any CA may issue
    ("allow.example.com", True, "allow.example.com"),
    ("www.allow.example.com", True, "allow.example.com"),  # climbs to the parent's record set
    ("params.example.com", True, "params.example.com"),
    ("deny.example.com", False, "deny.example.com"),
    ("sub.deny.example.com", False, "deny.example.com"),
    ("nobody.example.com", False, "nobody.example.com"),
    ("www.wild.example.com", True, "wild.example.com"),
    ("*.wild.example.com", False, "wild.example.com"),    # issuewild ";" forbids wildcards only
    ("*.wildok.example.com", True, "wildok.example.com"),  # issuewild replaces issue for a wildcard
    ("wildok.example.com", False, "wildok.example.com"),
    ("*.allow.example.com", True, "allow.example.com"),    # no issuewild: issue decides
    ("alias.example.com", False, "alias.example.com"),     # the CNAME target's records count
    ("critical.example.com", False, "critical.example.com"),
])
def test_caa_decides_by_the_relevant_record_set(resolver: CaaResolver, name: str, allowed: bool, owner: str | None) -> None:
    lookup = resolver.lookup(name)
    assert lookup.error is None and lookup.owner == owner
    refusal = caa_refusal(lookup, frozenset({IDENTITY}))
    assert (refusal is None) is allowed, refusal
    if refusal is not None:
        assert owner is not None and owner in refusal  # the message names where the record is


def test_servfail_is_a_clear_refusal_never_a_pass(resolver: CaaResolver) -> None:
    lookup = resolver.lookup("broken.example.com")
    assert lookup.error is not None and "SERVFAIL" in lookup.error
    refusal = caa_refusal(lookup, frozenset({IDENTITY}))
    assert refusal is not None and "could not be checked" in refusal


def test_no_resolver_answering_is_a_refusal_too() -> None:
    lookup = CaaResolver([("127.0.0.1", 9)], lifetime=0.5).lookup("nocaa.example.com")
    assert lookup.error is not None
    assert caa_refusal(lookup, frozenset({IDENTITY})) is not None


def _caa_app(settings: Settings, clock: FakeClock, tmp_path: Path, dns_port: int) -> Any:
    policy = tmp_path / "caa.toml"
    text = DEFAULT_POLICY_PATH.read_text().replace("[caa]\n# Check CAA (RFC 8659) for every DNS name before issuing (BR 3.2.2.8).\nenabled = false",
                                                   "[caa]\nenabled = true")
    policy.write_text(text.replace("identities = []", f'identities = ["{IDENTITY}"]'))
    assert "enabled = true\n" in policy.read_text()
    return create_app(replace(settings, policy_file=policy, caa_resolvers=f"127.0.0.1:{dns_port}"), clock=clock)


@pytest.mark.parametrize(("name", "status", "code"), [
    ("nocaa.example.com", 201, None),
    ("allow.example.com", 201, None),
    ("deny.example.com", 422, "caa_forbids"),
    ("*.wild.example.com", 422, "caa_forbids"),
    ("alias.example.com", 422, "caa_forbids"),
    ("broken.example.com", 422, "caa_forbids"),
])
def test_caa_through_the_api_dry_run_and_submission_agree(settings: Settings, clock: FakeClock, tmp_path: Path,
                                                          dns_port: int, tokens: dict[str, str], name: str,
                                                          status: int, code: str | None) -> None:
    app = _caa_app(settings, clock, tmp_path, dns_port)
    client = app.test_client()
    csr = csr_pem(cn=None, dns=[name])
    before = row_counts(app.extensions["certgate"])
    dry = submit(client, tokens["requester"], csr, dry_run=True)
    assert dry.status_code == 200 and row_counts(app.extensions["certgate"]) == before
    real = submit(client, tokens["requester"], csr)
    assert real.status_code == status, real.get_json()
    dry_codes = [v["code"] for v in dry.get_json()["violations"]]
    if code is None:
        assert dry.get_json()["verdict"] == "issue" and dry_codes == []
    else:
        error = real.get_json()["error"]
        assert error["code"] == code and dry.get_json()["verdict"] == "reject"
        assert dry_codes == [v["code"] for v in error["violations"]] == [code]
        assert name.lstrip("*.") in error["message"] or "CAA" in error["message"]
