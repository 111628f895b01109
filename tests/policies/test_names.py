"""DNS names on facts: ownership at label boundaries, wildcards, IDNs, public suffixes, internal names, the limit."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from policies.config import DEFAULT_POLICY_PATH, parse_policy
from policies.decision import Verdict
from policies.domains import DomainIndex
from policies.engine import EvaluationContext, GrantFacts, evaluate
from policies.facts import KeyAlgorithm, KeyFacts, RequestFacts
from policies.names import NameProblem, name_not_allowed_reason, name_refusal, normalise_name
from policies.ownership import RangeIndex
from policies.suffixes import PublicSuffixes, SuffixSection

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)
POLICY = parse_policy(DEFAULT_POLICY_PATH.read_bytes())
P256 = KeyFacts(KeyAlgorithm.EC, 256, "ab" * 32, curve="secp256r1")
# A few rules of the real list's shape: ICANN TLDs and second levels, a wildcard with an
# exception, and private-section suffixes (the service hands in the whole list).
PSL_TEXT = """// ===BEGIN ICANN DOMAINS===
com
net
org
uk
co.uk
jp
*.kawasaki.jp
!city.kawasaki.jp
onion
中国
// ===END ICANN DOMAINS===
// ===BEGIN PRIVATE DOMAINS===
github.io
blogspot.com
// ===END PRIVATE DOMAINS===
"""
PSL = PublicSuffixes.parse(PSL_TEXT)
DOMAINS = DomainIndex([(1, "example.com", "web"), (2, "corp.example.net", "ops"), (3, "xn--bcher-kva.example.org", "books")])


def facts(*dns: str, cn: str | None = None, ips: tuple[str, ...] = ()) -> RequestFacts:
    return RequestFacts(P256, cn, dns, ips, "00" * 32)


def ctx(*grants: GrantFacts, max_names: int = 100) -> EvaluationContext:
    policy = replace(POLICY, names=replace(POLICY.names, max_names=max_names))
    return EvaluationContext(policy, NOW, RangeIndex.build([(1, "5.6.7.0/24", "net")]), frozenset(), grants, DOMAINS, PSL)


@pytest.mark.parametrize(("names", "verdict", "codes"), [
    (("example.com",), Verdict.ISSUE, []),
    (("www.example.com",), Verdict.ISSUE, []),
    (("a.b.c.example.com",), Verdict.ISSUE, []),
    (("badexample.com",), Verdict.EXCEPTION, ["dns_not_owned"]),       # a label boundary, not a string suffix
    (("example.com.evil.org",), Verdict.EXCEPTION, ["dns_not_owned"]),
    (("www.google.com",), Verdict.EXCEPTION, ["dns_not_owned"]),
    (("host.corp.example.net",), Verdict.ISSUE, []),
    (("example.net",), Verdict.EXCEPTION, ["dns_not_owned"]),          # the parent of an owned domain is not owned
    (("*.example.com",), Verdict.ISSUE, []),
    (("*.www.example.com",), Verdict.ISSUE, []),
    (("*.google.com",), Verdict.REJECT, ["name_not_allowed"]),          # no review accepts a foreign zone
    (("*.co.uk",), Verdict.REJECT, ["name_not_allowed"]),
    (("*.com",), Verdict.REJECT, ["name_not_allowed"]),
    (("com",), Verdict.REJECT, ["name_not_allowed"]),
    (("co.uk",), Verdict.REJECT, ["name_not_allowed"]),
    (("github.io",), Verdict.REJECT, ["name_not_allowed"]),            # private section
    (("blogspot.com",), Verdict.REJECT, ["name_not_allowed"]),
    (("foo.kawasaki.jp",), Verdict.REJECT, ["name_not_allowed"]),       # wildcard rule
    (("city.kawasaki.jp",), Verdict.EXCEPTION, ["dns_not_owned"]),      # its exception
    (("me.github.io",), Verdict.EXCEPTION, ["dns_not_owned"]),
    (("www.example.com", "www.google.com", "localhost"), Verdict.REJECT, ["name_not_allowed", "dns_not_owned"]),
])
def test_ownership_wildcards_and_public_suffixes(names: tuple[str, ...], verdict: Verdict, codes: list[str]) -> None:
    decision = evaluate(facts(*names), ctx())
    assert decision.verdict is verdict, decision.findings
    assert [f.code for f in decision.findings] == codes


@pytest.mark.parametrize(("name", "words"), [
    ("localhost", "single label"),
    ("printer", "single label"),
    ("db.localhost", "local host"),
    ("printer.local", "multicast DNS"),
    ("a.test", "testing"),
    ("a.example", "documentation"),
    ("x.invalid", "never valid"),
    ("vault.internal", "private use"),
    ("printer.corp", "name collision"),
    ("nas.home", "name collision"),
    ("router.lan", "not delegated"),
    ("host.123", "numeric"),
    ("expyuzz4wqqyqhjn.onion", "onion"),
    ("nas.home.arpa", "home networks"),
    ("4.3.2.1.in-addr.arpa", "reverse-DNS"),
    ("host.notatld", "Public Suffix List"),
])
def test_every_internal_name_class_is_refused_with_its_reason(name: str, words: str) -> None:
    refusal = name_refusal(name, PSL)
    assert refusal is not None and refusal.problem is NameProblem.INTERNAL
    assert words in refusal.message
    decision = evaluate(facts(name), ctx())
    assert [(f.code, f.rule) for f in decision.findings] == [("name_not_allowed", "name.internal")]


def test_private_trust_switch_lets_internal_names_through_to_ownership() -> None:
    assert name_refusal("vault.internal", PSL, allow_internal=True) is None
    assert name_refusal("host.notatld", PSL, allow_internal=True) is None
    refusal = name_refusal("co.uk", PSL, allow_internal=True)
    assert refusal is not None and refusal.problem is NameProblem.PUBLIC_SUFFIX  # still nobody's


@pytest.mark.parametrize(("text", "normal"), [
    ("WWW.Example.COM", "www.example.com"),
    ("www.example.com.", "www.example.com"),
    ("Bücher.example.org", "xn--bcher-kva.example.org"),
    ("BÜCHER.example.org", "xn--bcher-kva.example.org"),
    ("xn--bcher-kva.example.org", "xn--bcher-kva.example.org"),
])
def test_names_are_compared_as_lowercase_a_labels(text: str, normal: str) -> None:
    assert normalise_name(text) == normal


def test_idn_under_an_owned_idn_domain() -> None:
    assert evaluate(facts("www.xn--bcher-kva.example.org"), ctx()).verdict is Verdict.ISSUE
    assert PublicSuffixes.parse(PSL_TEXT).is_public_suffix("xn--fiqs8s")  # 中国 read as its A-label
    assert PSL.match("xn--fiqs8s").section is SuffixSection.ICANN


@pytest.mark.parametrize(("name", "fragment"), [
    ("a..example.com", "label ''"),
    ("-a.example.com", "label '-a'"),
    ("a*.example.com", "wildcard"),
    ("*.*.example.com", "wildcard"),
    ("ab--c.example.com", "A-label"),
    ("a" * 64 + ".example.com", "63"),
    ("a." * 127 + "com", "253"),
])
def test_syntax_is_checked_for_names_from_any_edge(name: str, fragment: str) -> None:
    reason = name_not_allowed_reason(name, PSL)
    assert reason is not None and fragment in reason


def test_name_not_allowed_reason_normalises_and_ignores_ownership() -> None:
    assert name_not_allowed_reason("WWW.GOOGLE.COM", PSL) is None
    assert name_not_allowed_reason("Printer.CORP", PSL) is not None
    assert name_not_allowed_reason("github.io", PSL) is not None


def test_the_names_limit_counts_dns_and_ips_with_the_cn_folded_in() -> None:
    hundred = tuple(f"n{i}.example.com" for i in range(99))
    assert evaluate(facts(*hundred, cn="n0.example.com", ips=("5.6.7.8",)), ctx()).verdict is Verdict.ISSUE
    over = evaluate(facts(*hundred, cn="other.example.com", ips=("5.6.7.8",)), ctx())
    assert [f.code for f in over.findings] == ["too_many_names"] and over.findings[0].subject == "101"
    assert "at most 100" in over.findings[0].message
    assert [f.code for f in evaluate(facts("a.example.com", "b.example.com"), ctx(max_names=1)).findings] == ["too_many_names"]
    # 1,500 foreign names: one finding, not 1,500.
    assert len(evaluate(facts(*(f"h{i}.google.com" for i in range(1500))), ctx()).findings) == 1


def test_a_grant_covers_names_as_well_as_ips() -> None:
    grant = GrantFacts("g1", frozenset({"9.9.9.9"}), NOW.replace(year=2027), frozenset({"www.partner.com"}))
    decision = evaluate(facts("www.partner.com", ips=("9.9.9.9",)), ctx(grant))
    assert decision.verdict is Verdict.ISSUE and decision.grant_id == "g1"
    assert {f.code for f in decision.waived} == {"dns_not_owned", "ip_not_owned"}
    assert evaluate(facts("api.partner.com"), ctx(grant)).verdict is Verdict.EXCEPTION
    expired = replace(grant, expires_at=NOW)
    assert evaluate(facts("www.partner.com"), ctx(expired)).verdict is Verdict.EXCEPTION


def test_domain_index_add_remove_and_oldest_id_wins() -> None:
    index = DomainIndex([(5, "example.com", "late"), (2, "example.com", "early")])
    assert index.lookup("a.example.com") == (2, "example.com", "early")
    index.remove(2)
    assert index.lookup("a.example.com") is None  # the younger duplicate is not resurrected by remove
    index.add(7, "sub.example.com", "sub")
    assert index.lookup("x.sub.example.com") == (7, "sub.example.com", "sub")
    assert index.lookup("*.sub.example.com") == (7, "sub.example.com", "sub")
    index.remove(99)  # unknown id: no-op
    assert len(index) == 2
