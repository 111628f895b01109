"""The linter's IP-reservation finding follows the policy's address rule, not Python's `ipaddress`."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from policies.addresses import parse_ip
from policies.public_ip import AddressRule
from service.ca.authority import CertificateAuthority, new_serial
from service.ca.lint import Linter
from service.ca.profile import IssueOrder
from service.errors import LintFailed
from service.issuance import ip_lint_amendment, lint_waiver
from tests.conftest import BASE_URL

NOW = datetime.now(UTC)
BR, GR = AddressRule.BASELINE_REQUIREMENTS, AddressRule.GLOBALLY_REACHABLE


@functools.cache
def linter() -> Linter:
    return Linter()


def issue(ca_home: Path, ip: str, rule: AddressRule | None, approved: frozenset[str] = frozenset()) -> list[str]:
    """The blocking lint codes for a leaf naming `ip` (empty when issued); `rule=None`: pkilint alone."""
    ca = CertificateAuthority.load(ca_home / "ca", None, BASE_URL)
    order = IssueOrder(public_key=ec.generate_private_key(ec.SECP256R1()).public_key(), common_name=None, dns_names=(),
                       ip_addresses=(ip,), not_before=NOW, not_after=NOW + timedelta(days=30), serial=new_serial(),
                       client_auth=False, organization="", country="", state_or_province="", locality="")
    parsed = parse_ip(ip)
    assert parsed is not None
    amend = None if rule is None else ip_lint_amendment([parsed], rule)
    try:
        issued = ca.issue(order, linter=linter(), waive=lint_waiver(approved), amend=amend)
    except LintFailed as failure:
        return [v["code"] for v in failure.violations or []]
    assert all(f.code == "cabf.internal_ip_address" for f in issued.waived_lint if ip in f.message)
    return []


@pytest.mark.parametrize("ip", ["2001:3::1", "2001:4:112::1", "2001:20::1", "2001:30::1", "2001:1::1"])
def test_globally_reachable_2001_sub_blocks_are_not_refused_by_the_linter(ca_home: Path, ip: str) -> None:
    assert issue(ca_home, ip, GR) == []  # pkilint on Python 3.11.7 alone refuses these (see the issue)


@pytest.mark.parametrize("ip", ["192.0.0.9", "192.52.193.1", "192.31.196.1", "2001:3::1", "64:ff9b::808:808"])
def test_reserved_addresses_keep_the_finding_under_the_baseline_requirements(ca_home: Path, ip: str) -> None:
    assert issue(ca_home, ip, BR) == ["cabf.internal_ip_address"]
    assert issue(ca_home, ip, BR, approved=frozenset({ip})) == []  # approved: waived and recorded


def test_a_public_address_never_gets_the_finding(ca_home: Path) -> None:
    assert issue(ca_home, "8.8.8.8", BR) == issue(ca_home, "8.8.8.8", GR) == []
    assert issue(ca_home, "10.0.0.5", GR) == ["cabf.internal_ip_address"]
