"""The engine over hand-written facts: every finding, the verdict, named IPs and renewal grants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from policies.addresses import IpAddress
from policies.config import DEFAULT_POLICY_PATH, parse_policy
from policies.decision import Verdict
from policies.engine import EvaluationContext, GrantFacts, evaluate, named_ips
from policies.facts import KeyAlgorithm, KeyFacts, RequestFacts
from policies.domains import DomainIndex
from policies.ownership import RangeIndex

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
POLICY = parse_policy(DEFAULT_POLICY_PATH.read_bytes())
P256 = KeyFacts(KeyAlgorithm.EC, 256, "ab" * 32, curve="secp256r1")
OWNED = RangeIndex.build([(1, "5.6.7.0/24", "netops"), (2, "2a00:1450::/32", "v6")])
DOMAINS = DomainIndex([(1, "example.com", "web")])


def facts(cn: str | None = "www.example.com", dns: tuple[str, ...] = (), ips: tuple[str, ...] = (),
          key: KeyFacts = P256, days: int | None = None) -> RequestFacts:
    return RequestFacts(key, cn, dns, ips, "00" * 32, days)


def ctx(*grants: GrantFacts) -> EvaluationContext:
    return EvaluationContext(POLICY, NOW, OWNED, frozenset(), grants, DOMAINS)


@pytest.mark.parametrize(
    ("request_facts", "verdict", "codes"),
    [
        (facts(), Verdict.ISSUE, []),
        (facts(ips=("5.6.7.8",)), Verdict.ISSUE, []),
        (facts(ips=("2a00:1450:1::1",)), Verdict.ISSUE, []),
        (facts(ips=("10.0.0.5",)), Verdict.EXCEPTION, ["ip_not_public"]),
        (facts(ips=("8.8.8.8",)), Verdict.EXCEPTION, ["ip_not_owned"]),
        (facts(ips=("::ffff:10.0.0.5",)), Verdict.EXCEPTION, ["ip_not_public"]),
        (facts(ips=("::ffff:5.6.7.8",)), Verdict.EXCEPTION, ["ip_not_public"]),  # BR: ::ffff:0:0/96 is reserved
        (facts(cn="192.168.1.1"), Verdict.EXCEPTION, ["ip_not_public"]),
        (facts(dns=("172.16.0.1",)), Verdict.EXCEPTION, ["ip_not_public"]),
        (facts(ips=("10.0.0.1", "8.8.8.8", "5.6.7.8")), Verdict.EXCEPTION, ["ip_not_public", "ip_not_owned"]),
        (facts(days=365), Verdict.REJECT, ["validity_too_long"]),
        (facts(key=KeyFacts(KeyAlgorithm.EC, 256, "cd" * 32, curve="secp256k1"), ips=("10.0.0.1",)),
         Verdict.REJECT, ["key_type_not_allowed", "ip_not_public"]),
    ],
)
def test_verdicts(request_facts: RequestFacts, verdict: Verdict, codes: list[str]) -> None:
    decision = evaluate(request_facts, ctx())
    assert decision.verdict is verdict
    assert [f.code for f in decision.findings] == codes
    assert decision.policy_version == POLICY.version


def test_the_globally_reachable_rule_judges_a_mapped_address_by_its_ipv4() -> None:
    policy = parse_policy(DEFAULT_POLICY_PATH.read_bytes().replace(b'rule = "baseline-requirements"',
                                                                    b'rule = "globally-reachable"'))
    assert policy.address_rule == "globally-reachable"
    context = EvaluationContext(policy, NOW, OWNED, frozenset(), (), DOMAINS)
    assert evaluate(facts(ips=("::ffff:5.6.7.8",)), context).verdict is Verdict.ISSUE
    assert [f.code for f in evaluate(facts(ips=("::ffff:10.0.0.5",)), context).findings] == ["ip_not_public"]


def test_named_ips_are_deduplicated_across_cn_dns_and_san() -> None:
    ips = named_ips(facts(cn="5.6.7.8", dns=("5.6.7.8", "www.example.com"), ips=("5.6.7.8", "2a00:1450::1")))
    assert [ip.text for ip in ips] == ["5.6.7.8", "2a00:1450::1"]
    assert all(isinstance(ip, IpAddress) for ip in ips)


def test_default_validity_is_policy_default() -> None:
    assert evaluate(facts(), ctx()).validity_days == 90


def test_active_grant_covering_every_ip_finding_issues_and_is_cited() -> None:
    grant = GrantFacts("g1", frozenset({"10.0.0.5", "8.8.8.8"}), NOW + timedelta(days=1))
    decision = evaluate(facts(ips=("10.0.0.5", "5.6.7.8")), ctx(grant))
    assert decision.verdict is Verdict.ISSUE and decision.grant_id == "g1"
    assert [f.subject for f in decision.waived] == ["10.0.0.5"]


@pytest.mark.parametrize(
    "grant",
    [
        GrantFacts("partial", frozenset({"10.0.0.5"}), NOW + timedelta(days=1)),
        GrantFacts("expired", frozenset({"10.0.0.5", "10.0.0.6"}), NOW),
    ],
)
def test_grant_that_does_not_cover_or_has_expired_changes_nothing(grant: GrantFacts) -> None:
    decision = evaluate(facts(ips=("10.0.0.5", "10.0.0.6")), ctx(grant))
    assert decision.verdict is Verdict.EXCEPTION and decision.grant_id is None


def test_grant_never_overrides_a_key_refusal() -> None:
    grant = GrantFacts("g", frozenset({"10.0.0.5"}), NOW + timedelta(days=1))
    weak = KeyFacts(KeyAlgorithm.ED25519, 256, "ef" * 32)
    decision = evaluate(facts(ips=("10.0.0.5",), key=weak), ctx(grant))
    assert decision.verdict is Verdict.REJECT and decision.grant_id is None


def test_names_a_lenient_client_reads_as_addresses_are_judged_as_those() -> None:
    decision = evaluate(facts(cn="www.example.com", dns=("010.0.0.1",)), ctx())
    assert [(f.code, f.subject) for f in decision.findings] == [("ip_not_owned", "8.0.0.1")]
